"""The columns of every table smtpsniff produces, their pandas dtypes and meaning.

One place answers "what is in this column?": the DataFrames, the exports and the README's table
reference all come from :data:`SCHEMAS`.  Timestamps are ``datetime64[ns, UTC]``; counts and codes
that can be missing are nullable ``Int64``; low-cardinality labels are ``category``; free text is
``string``; list-valued cells (recipients, capabilities) are Python lists (Parquet list columns).
"""
from __future__ import annotations

from dataclasses import dataclass

TS = "datetime64[ns, UTC]"
INT = "Int64"
BOOL = "boolean"
STR = "string"
CAT = "category"
LIST = "object"
FLOAT = "Float64"


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    dtype: str
    doc: str


def _cols(*specs: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


_CONNECTION = (
    ("client_ip", CAT, "client address"),
    ("client_port", INT, "client TCP port"),
    ("server_ip", CAT, "server address"),
    ("server_port", INT, "server TCP port"),
)

SCHEMAS: dict[str, tuple[Column, ...]] = {
    "sessions": _cols(
        ("session_id", INT, "connection number, in order of first packet (Wireshark's tcp.stream order)"),
        ("capture", CAT, "the capture file the session came from"),
        *_CONNECTION,
        ("ip_version", INT, "4 or 6"),
        ("start", TS, "first packet"),
        ("end", TS, "last packet or close"),
        ("duration_s", FLOAT, "end - start in seconds"),
        ("first_frame", INT, "frame number of the first packet"),
        ("detected_by", CAT, "'port' (an SMTP port) or 'greeting' (220 answered by EHLO/HELO)"),
        ("role_basis", CAT, "how the client was told from the server: syn, syn_ack, port, payload, guess"),
        ("handshake_seen", BOOL, "the TCP three-way handshake is in the capture"),
        ("banner", STR, "text of the server greeting"),
        ("greeting_code", INT, "reply code of the greeting (220, or 421/554 for a refusal)"),
        ("helo_verb", CAT, "EHLO or HELO (the last one sent)"),
        ("helo", STR, "the name the client gave in EHLO/HELO"),
        ("capabilities", LIST, "EHLO keywords with parameters, as offered before TLS"),
        ("pipelining_offered", BOOL, "PIPELINING offered (RFC 2920)"),
        ("starttls_offered", BOOL, "STARTTLS offered (RFC 3207)"),
        ("starttls_used", BOOL, "STARTTLS sent and answered 220"),
        ("implicit_tls", BOOL, "TLS from the first byte (port 465, RFC 8314)"),
        ("tls", BOOL, "the session switched to TLS (STARTTLS or implicit)"),
        ("tls_version", CAT, "TLS version from the handshake, where visible"),
        ("sni", STR, "server name from the TLS ClientHello"),
        ("auth_mechanisms_offered", LIST, "AUTH mechanisms in the EHLO reply"),
        ("auth_mechanism", CAT, "mechanism of the last AUTH command"),
        ("auth_reply_code", INT, "reply code that ended the last AUTH exchange (235, 535, ...)"),
        ("auth_success", BOOL, "the last AUTH succeeded (2xx)"),
        ("commands", INT, "commands seen"),
        ("replies", INT, "replies seen"),
        ("transactions", INT, "MAIL transactions"),
        ("messages", INT, "messages transferred (DATA or BDAT LAST completed)"),
        ("bytes_c2s", INT, "client to server bytes delivered by reassembly"),
        ("bytes_s2c", INT, "server to client bytes delivered by reassembly"),
        ("tls_bytes_c2s", INT, "of bytes_c2s, bytes after the switch to TLS"),
        ("tls_bytes_s2c", INT, "of bytes_s2c, bytes after the switch to TLS"),
        ("gap_bytes", INT, "bytes missing from the capture, both directions"),
        ("close_reason", CAT, "fin, rst, idle, evicted, end_of_capture, port_reuse"),
        ("anomalies", INT, "anomalies recorded for this session"),
    ),
    "transactions": _cols(
        ("session_id", INT, "session"),
        ("trans_index", INT, "0-based number of the transaction within its session"),
        ("trans_depth", INT, "messages transferred earlier in the session + 1 (Zeek's trans_depth)"),
        ("ts", TS, "time of the MAIL command"),
        ("frame", INT, "frame of the MAIL command"),
        *_CONNECTION,
        ("helo", STR, "EHLO/HELO name in force"),
        ("mail_from", STR, "reverse-path of MAIL FROM, without angle brackets ('' for the null sender)"),
        ("mail_params", STR, "ESMTP parameters of MAIL FROM"),
        ("mail_reply_code", INT, "reply to MAIL FROM"),
        ("rcpt_to", LIST, "forward-paths of every RCPT TO, in order"),
        ("rcpt_codes", LIST, "the reply code to each RCPT TO, same order"),
        ("rcpt_accepted", INT, "RCPT TO answered 2xx"),
        ("data_via", CAT, "DATA or BDAT"),
        ("data_reply_code", INT, "reply to DATA (354) or to the first BDAT chunk"),
        ("final_reply_code", INT, "reply to the end of the message"),
        ("last_reply", STR, "code and text of the last reply of the transaction (Zeek's last_reply)"),
        ("message_size", INT, "bytes of the message after dot-unstuffing"),
        ("message_complete", BOOL, "the whole message was captured"),
        ("tls", BOOL, "the transaction ran inside TLS (only visible when decrypted)"),
        ("status", CAT, "accepted, rejected, aborted, incomplete, no_message, starttls"),
        ("end", TS, "time of the last reply of the transaction"),
    ),
    "recipients": _cols(
        ("session_id", INT, "session"),
        ("trans_index", INT, "transaction"),
        ("index", INT, "0-based position among the transaction's RCPT commands"),
        ("ts", TS, "time of the RCPT command"),
        ("frame", INT, "frame of the RCPT command"),
        *_CONNECTION,
        ("address", STR, "forward-path without angle brackets"),
        ("params", STR, "ESMTP parameters (NOTIFY, ORCPT, ...)"),
        ("reply_code", INT, "reply to this RCPT"),
        ("reply_text", STR, "text of that reply"),
    ),
    "commands": _cols(
        ("session_id", INT, "session"),
        ("index", INT, "0-based position among the session's commands"),
        ("ts", TS, "capture time of the command's first byte"),
        ("frame", INT, "frame that carried the command's first byte"),
        *_CONNECTION,
        ("verb", CAT, "command verb, upper case (unknown verbs as sent)"),
        ("argument", STR, "everything after the verb"),
        ("known", BOOL, "a verb of RFC 5321 or a registered extension"),
        ("pipelined", BOOL, "sent before the reply to the previous command"),
        ("trans_index", INT, "transaction the command belongs to"),
        ("reply_code", INT, "code of the reply that answered it"),
        ("reply_frame", INT, "frame of that reply"),
        ("latency_s", FLOAT, "seconds from command to reply"),
    ),
    "replies": _cols(
        ("session_id", INT, "session"),
        ("index", INT, "0-based position among the session's replies"),
        ("ts", TS, "capture time of the reply's first byte"),
        ("frame", INT, "frame that carried the reply's first byte"),
        *_CONNECTION,
        ("code", INT, "three-digit reply code (RFC 5321 4.2)"),
        ("reply_class", CAT, "2xx, 3xx, 4xx or 5xx"),
        ("enhanced_code", CAT, "RFC 3463 enhanced status code, when present"),
        ("text", STR, "text of every line, joined with newlines"),
        ("lines", INT, "lines in the reply"),
        ("verb", CAT, "verb of the command answered ('<greeting>' for the banner)"),
        ("stage", CAT, "for DATA/BDAT: data_start (354) or data_end"),
        ("command_index", INT, "index of the command answered"),
        ("trans_index", INT, "transaction the reply belongs to"),
    ),
    "anomalies": _cols(
        ("session_id", INT, "session, when the anomaly belongs to one"),
        ("ts", TS, "capture time"),
        ("frame", INT, "frame number"),
        ("layer", CAT, "capture, net, tcp, smtp or mail"),
        ("kind", CAT, "stable snake_case name"),
        ("message", STR, "one readable line"),
    ),
    "messages": _cols(
        ("session_id", INT, "session"),
        ("message_index", INT, "0-based number of the message within its session"),
        ("trans_index", INT, "transaction that carried it (joins the transactions table)"),
        ("ts", TS, "capture time of the message's first byte"),
        ("end", TS, "capture time of its last byte"),
        ("frame", INT, "frame of its first byte"),
        ("end_frame", INT, "frame of its last byte"),
        *_CONNECTION,
        ("via", CAT, "DATA or BDAT"),
        ("complete", BOOL, "the whole message was captured (no gap, not cut off)"),
        ("size", INT, "bytes transferred (DATA dot-unstuffed, RFC 5321 4.5.2; BDAT chunks joined)"),
        ("captured_bytes", INT, "bytes held: less than size after a gap or past max_message_bytes"),
        ("gap_bytes", INT, "bytes of the message lost from the capture"),
        ("sha256", STR, "SHA-256 of the bytes held (the .eml written by extract)"),
        ("mail_from", STR, "envelope sender (MAIL FROM), '' for the null sender"),
        ("rcpt_to", LIST, "envelope recipients (every RCPT TO), in order"),
        ("from", STR, "From header as a reader sees it (RFC 2047 decoded)"),
        ("from_addr", STR, "addr-spec of the first From mailbox"),
        ("from_count", INT, "From fields in the header (RFC 5322 3.6 allows one)"),
        ("sender", STR, "addr-spec of the Sender mailbox"),
        ("reply_to", LIST, "addr-specs of Reply-To"),
        ("to", LIST, "addr-specs of every To field (at most max_header_addresses)"),
        ("cc", LIST, "addr-specs of every Cc field (at most max_header_addresses)"),
        ("bcc", LIST, "addr-specs of Bcc"),
        ("subject", STR, "Subject, RFC 2047 decoded"),
        ("subject_raw", STR, "Subject as on the wire, unfolded"),
        ("date", TS, "Date header in UTC"),
        ("date_raw", STR, "Date header as written"),
        ("message_id", STR, "Message-ID"),
        ("in_reply_to", STR, "In-Reply-To"),
        ("references", LIST, "msg-ids of References"),
        ("return_path", STR, "Return-Path without angle brackets"),
        ("x_mailer", STR, "X-Mailer"),
        ("user_agent", STR, "User-Agent (or X-User-Agent)"),
        ("x_originating_ip", STR, "first IP address in X-Originating-IP"),
        ("dkim_domains", LIST, "d= of every DKIM-Signature (RFC 6376 3.5)"),
        ("received_count", INT, "Received fields"),
        ("received_path", LIST, "one IP per Received field, newest hop first, picked as Zeek's path"),
        ("mime_version", STR, "MIME-Version"),
        ("content_type", CAT, "top-level media type"),
        ("part_count", INT, "MIME entities (containers included)"),
        ("attachment_count", INT, "parts listed in the attachments table"),
        ("url_count", INT, "distinct URLs in text and HTML bodies"),
        ("urls", LIST, "those URLs, in first-seen order"),
        ("preview", STR, "first characters of the text body"),
        ("header_bytes", INT, "bytes of the header block"),
        ("anomalies", INT, "mail anomalies of this message (rows of the anomalies table)"),
    ),
    "attachments": _cols(
        ("session_id", INT, "session"),
        ("message_index", INT, "message within the session (joins the messages table)"),
        ("trans_index", INT, "transaction that carried the message"),
        ("ts", TS, "capture time of the message's first byte"),
        ("frame", INT, "frame of the message's first byte"),
        *_CONNECTION,
        ("part", STR, "MIME path: '1' is the message, '1.2' its second part, ..."),
        ("filename", STR, "file name as sent (RFC 2231/2047 decoded), unsanitised"),
        ("filename_raw", STR, "the filename parameter exactly as on the wire"),
        ("content_type", CAT, "declared media type"),
        ("charset", STR, "charset parameter"),
        ("transfer_encoding", CAT, "Content-Transfer-Encoding"),
        ("disposition", CAT, "Content-Disposition type"),
        ("content_id", STR, "Content-ID"),
        ("size", INT, "encoded bytes as transferred"),
        ("decoded_size", INT, "bytes after transfer decoding"),
        ("md5", STR, "MD5 of the decoded bytes"),
        ("sha1", STR, "SHA-1 of the decoded bytes"),
        ("sha256", STR, "SHA-256 of the decoded bytes"),
        ("truncated", BOOL, "decoded content cut at max_part_decoded_bytes (hashes cover it all)"),
    ),
    "headers": _cols(
        ("session_id", INT, "session"),
        ("message_index", INT, "message within the session (joins the messages table)"),
        ("trans_index", INT, "transaction that carried the message"),
        ("ts", TS, "capture time of the message's first byte"),
        *_CONNECTION,
        ("part", STR, "entity whose header block it is: '1' the message, '1.2' a MIME part, ..."),
        ("index", INT, "0-based position in that header block"),
        ("name", STR, "field name as written"),
        ("value", STR, "value as a reader sees it (RFC 2047 decoded)"),
        ("raw_value", STR, "value as on the wire, unfolded (RFC 5322 2.2.3)"),
    ),
}


def columns(table: str) -> list[str]:
    return [c.name for c in SCHEMAS[table]]
