"""smtpsniff: a Wireshark-style analyser for SMTP traffic."""
__version__ = "0.1.0"
