"""Delivery channels: email (SMTP or .eml files) and the SMS/push webhook."""
