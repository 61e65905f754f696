"""Every bound smtpsniff applies, by name, with its default and where the default comes from.

Reaching a limit never grows a buffer past it and never stops a run: the layer that hits it records
an :class:`~smtpsniff.anomaly.Anomaly` and goes on.  The README's "Limits" table is this file.
"""
from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB
SECOND_NS = 1_000_000_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    # --- every layer ---------------------------------------------------------------------------
    #: Anomaly records kept per kind; past it they are only counted (a hostile capture of a million
    #: malformed packets must not hold a million records).  The count is always exact.
    max_anomalies_per_kind: int = 1000

    # --- capture -----------------------------------------------------------------------------
    #: Largest capture record accepted; larger lengths mean a corrupt file (Wireshark uses 256 MiB
    #: for pcapng blocks and 262144 for the snaplen of most link types).
    max_record_bytes: int = 64 * MiB

    # --- IPv4 fragment reassembly (RFC 791 section 3.2; RFC 815) -----------------------------------
    #: Fragment sets held at once waiting for their missing pieces (Linux ipfrag_high_thresh
    #: bounds memory the same way).
    max_fragment_sets: int = 4096
    #: A datagram cannot exceed 65535 bytes (RFC 791 Total Length is 16 bits).
    max_fragment_datagram_bytes: int = 65535
    #: Seconds a fragment set may wait (Linux ipfrag_time default: 30 s).
    fragment_timeout_ns: int = 30 * SECOND_NS

    # --- TCP reassembly ------------------------------------------------------------------------
    #: Connections tracked at once; the least recently active is evicted when a new one arrives.
    max_connections: int = 200_000
    #: Out-of-order bytes held ahead of a hole, per direction; past it the hole becomes a gap.
    #: Linux's default tcp_rmem maximum is 6 MiB; Zeek's tcp_max_old_segments defaults to 0 (no cap).
    max_buffered_bytes_per_direction: int = 4 * MiB
    #: Out-of-order segments held ahead of a hole, per direction.
    max_buffered_segments_per_direction: int = 8192
    #: Delivered bytes kept per direction to compare retransmissions with (first copy wins; a
    #: different re-sent copy is an ``overlap_mismatch`` anomaly).  Older re-sent bytes are only
    #: counted.  Covers a 64 KiB window without scaling (RFC 9293 section 3.1 Window field); 0 disables.
    max_retained_bytes_per_direction: int = 64 * KiB
    #: A connection with no packet for this long is closed (Zeek tcp_inactivity_timeout: 5 min).
    connection_idle_timeout_ns: int = 300 * SECOND_NS
    #: A closed connection is forgotten after this long, so that late retransmissions of it are not
    #: taken for a new connection (2 x MSL, RFC 9293 section 3.4.2 uses MSL = 2 min; Zeek 5 s).
    closed_linger_ns: int = 10 * SECOND_NS
    #: Bytes of a connection on a port that is not an SMTP port held while waiting to see whether
    #: it speaks SMTP (a 220 greeting answered by EHLO or HELO).
    max_probe_bytes: int = 4 * KiB
    #: Bytes of an SMTP session held for a worker process (``smtpsniff.read(workers=...)``) until
    #: the session closes; past it the session is decoded in the reading process from there on, so
    #: that no long session's bytes all wait for its close.  No precedent: a few large messages.
    max_offload_bytes: int = 4 * MiB

    # --- SMTP (RFC 5321 section 4.5.3.1) --------------------------------------------------------
    #: 4.5.3.1.4: a command line is at most 512 octets including CRLF.
    max_command_line: int = 512
    #: 4.5.3.1.5: a reply line is at most 512 octets including CRLF.
    max_reply_line: int = 512
    #: 4.5.3.1.6: a text line is at most 1000 octets including CRLF.
    max_text_line: int = 1000
    #: Longest line smtpsniff buffers before cutting it (a hostile peer may never send CRLF).
    max_buffered_line: int = 64 * KiB
    #: Lines of one multi-line reply kept (EHLO replies have tens of lines; Postfix caps at 100s).
    max_reply_lines: int = 1000
    #: Recipients kept per transaction (Zeek smtp max_rcptto_addresses = 1000... RFC 5321 4.5.3.1.8
    #: requires servers to accept at least 100).
    max_recipients: int = 1000
    #: Message bytes kept per transaction for the mail parser; the rest is counted, not kept.
    max_message_bytes: int = 64 * MiB
    #: RFC 4954 4: an AUTH command line (with initial response) may be up to 12288 octets.
    max_auth_line: int = 12288
    #: Offsets kept per kind (bare CR, bare LF, smuggling shapes) per message; the count is exact.
    max_recorded_offsets: int = 100
    #: A BDAT chunk-size above this is taken as garbage, not as octets to skip (RFC 3030 sets no
    #: maximum; 1 GiB is far above any server's SIZE: Postfix message_size_limit defaults to 10 MB).
    max_bdat_chunk: int = 1024 * MiB

    # --- mail (RFC 5322, MIME RFC 2045-2049) ---------------------------------------------------
    #: Bytes of one entity's header block (the message's, or one MIME part's) kept as Header
    #: records; past it headers are counted, not kept.  Postfix header_size_limit = 102400 (per
    #: header); Zeek's MIME analyser raises exceeded_mime_max_header_bytes at 65536 per entity.
    max_mail_header_bytes: int = 100 * KiB
    #: Multipart / message nesting depth walked; deeper entities are counted, not listed.
    #: Postfix mime_nesting_limit = 100 (Postfix refuses mail nested deeper).
    max_mime_depth: int = 100
    #: MIME entities listed per message (ClamAV MaxFiles = 10000 per container; real mail has
    #: tens).  Past it entities are counted, not listed.
    max_mime_parts: int = 1000
    #: Decoded bytes of one part kept as ``content`` for extraction; hashes and sizes still cover
    #: the whole part.  Half of max_message_bytes, so one part cannot take it all twice over.
    max_part_decoded_bytes: int = 32 * MiB
    #: URLs kept per message (no precedent found; phishing mail carries tens, newsletters hundreds).
    max_urls_per_message: int = 1000
    #: IPs kept in the Received path (Zeek SMTP::max_path_length = 1000).
    max_received_path: int = 1000
    #: Mailboxes kept per To and per Cc list of a message (messages table cells, smtp.log sets);
    #: past it they are counted, not kept (Zeek SMTP::max_to_addresses = max_cc_addresses = 1000).
    max_header_addresses: int = 1000
    #: Characters of text kept as a part's preview.
    mail_preview_chars: int = 200

    # --- live capture (smtpsniff live) -------------------------------------------------------------
    #: Bytes kept of each captured packet: tcpdump's default snaplen.  Loopback and GRO hand up
    #: packets of 64 KiB and more, so an MTU-sized snaplen would cut them.
    live_snaplen: int = 262144
    #: Kernel receive buffer of the capture socket, where packets wait while the analysis is busy
    #: (past it the kernel drops and counts them).  libpcap's default is 2 MiB (tcpdump -B 2048);
    #: a Python analysis pauses longer than tcpdump's writer, hence 32 times that.
    live_socket_buffer_bytes: int = 64 * MiB
    #: Finished sessions a live run keeps in memory for its final summary and ``-o`` exports (about
    #: 7 KiB each without message bytes).  Later sessions are counted, streamed to ``--jsonl`` and
    #: left out of the exports, which say how many were.  Zeek keeps none once logged.
    max_live_sessions_kept: int = 10_000
    #: Message bytes those kept sessions may hold in all; a session that would pass it is not kept.
    max_live_message_bytes_kept: int = 256 * MiB
    #: Recent errors, findings and sessions the live dashboard remembers, per list.
    live_recent_items: int = 100

    # --- views: report, show, ladder --------------------------------------------------------------
    #: Rows listed per section of the HTML report; the rest are counted ("N more").  Browsers stay
    #: responsive up to a few thousand table rows (Wireshark's HTML export has no cap).
    report_max_rows: int = 2000
    #: Steps drawn in a ladder (sequence) diagram; later steps are counted.  Wireshark's Flow Graph
    #: scrolls without limit, but a picture of 500 arrows is already ~40 000 pixels tall.
    ladder_max_steps: int = 500
    #: Header lines of a message ``show`` prints while its body is folded; a header block past it
    #: (a header flood, Zeek's mime-header-size-limit trace has 100 000 lines) is folded too.
    follow_folded_header_lines: int = 200


DEFAULT_LIMITS = Limits()
