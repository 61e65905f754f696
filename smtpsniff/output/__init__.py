"""Writers: everything that turns smtpsniff's records into files or terminal text."""
