"""Platform adapters: each translates platform events into bot Events and Replies back."""
