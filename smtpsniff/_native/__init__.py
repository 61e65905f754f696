"""Optional C extensions; import them through :mod:`smtpsniff.net.native`, which falls back to Python."""
