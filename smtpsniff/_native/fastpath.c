/* Classic pcap records -> TCP segments, in C: the common case of smtpsniff's capture + net hot path.
 *
 * One job: cut a chunk of a classic pcap file into records (draft-ietf-opsawg-pcap sections 4-5,
 * both byte orders, microsecond / nanosecond / "modified" records) and, for the common link types
 * (Ethernet with any 802.1Q/802.1ad tags, Linux SLL and SLL2, NULL/LOOP, RAW/IPv4/IPv6), decode
 * IPv4 (no fragments; options allowed), IPv6 (no extension headers) and the TCP header exactly as
 * smtpsniff/net/decode.py and smtpsniff/net/linktypes.py do.  Each record becomes, in record order:
 *
 *   - a TcpSegment (the NamedTuple type handed in), with the same field values decode.py builds;
 *   - a Skip member (non_ip, non_tcp, truncated) when decode.py would return it without an anomaly;
 *   - the raw Frame (the NamedTuple type handed in) for everything else: fragments, extension
 *     headers, anything malformed, unsupported link types.  The Python decoder then decodes it, so
 *     anomalies, fragment reassembly and their counts stay its own.
 *
 * The Cutter keeps no state between chunks but a memo of address text, and knows nothing of files
 * or SMTP.  Counts of what it decided are returned per chunk for the caller to add to its
 * PacketCounts; frames handed back as Frame are not counted here.
 *
 * Second part, the reassembler's (smtpsniff/reassembly/table.py): FastFlows, a table of established
 * TCP connections whose in-order segments, pure ACKs and FINs the Cutter, when handed the table, turns
 * into the stream events the Python reassembler would build, and of the connections it closed, whose
 * late packets it counts (see the comment above FastFlows).
 *
 * Third part, the SMTP decoder's (smtpsniff/smtp/conversation.py, content.py): smtp_command and
 * smtp_reply read one well-formed command line or reply and return its pieces, or None for anything
 * unusual, which the Python decoder then reads itself; smtp_content copies well-formed message lines.
 *
 * Fourth part, for every layer (smtpsniff/fastinit.py): SlotBuilder, which builds frozen, slotted
 * dataclass instances by writing their slots directly.
 *
 * Fifth part, the mail parser's (smtpsniff/mail/parse.py): mail_line_ends counts a message's bare LF,
 * bare CR and NUL octets in one pass; and the tables' (smtpsniff/analysis/tables.py): slot_columns
 * reads many records' slots at once.
 *
 * Sixth part, the record builder's (smtpsniff/records/builder.py): BuilderEvents, SessionBuilder.add_all
 * with its command and reply handlers in C.
 *
 * Seventh part, the SMTP decoder's again (smtpsniff/smtp/conversation.py): ConversationFeed feeds a
 * conversation a connection's recorded deliveries, its usual command lines and replies decoded in C.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
#include <structmember.h>
#include <sys/socket.h>

/* What a link layer carries (smtpsniff/net/linktypes.py NET_*). */
enum { NET_TRUNCATED = -1, NET_OTHER = 0, NET_IPV4 = 4, NET_IPV6 = 6, NET_PYTHON = 99 };

/* Counters returned per chunk, in this order. */
enum {
    C_FRAMES, C_TCP, C_TCP_TRUNCATED, C_IPV4, C_IPV6, C_FRAGMENTS, C_NON_IP, C_NON_TCP, C_TRUNCATED,
    C_COUNT
};

/* The version of this module's interface to the Python code (smtpsniff/_native/__init__.py INTERFACE):
 * raised whenever a function or type here changes what it takes or returns. */
#define FASTPATH_INTERFACE 5

/* Address text memo: direct-mapped, keyed by the 4 or 16 address bytes. */
#define MEMO_SLOTS 4096
typedef struct {
    unsigned char len; /* 0: empty slot */
    unsigned char key[16];
    PyObject *text;
} MemoSlot;

typedef struct {
    PyObject_HEAD
    PyTypeObject *segment_type;
    PyTypeObject *frame_type;
    PyObject *skip_non_ip, *skip_non_tcp, *skip_truncated;
    PyObject *linktype_obj;
    int big_endian, modified;
    long long frac_ns;
    int linktype;
    unsigned long long max_record_bytes;
    MemoSlot *memo;
} Cutter;

static inline uint32_t rd32(const unsigned char *p, int big)
{
    if (big)
        return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
    return ((uint32_t)p[3] << 24) | ((uint32_t)p[2] << 16) | ((uint32_t)p[1] << 8) | p[0];
}

static inline unsigned be16(const unsigned char *p) { return ((unsigned)p[0] << 8) | p[1]; }
static inline uint32_t be32(const unsigned char *p) { return rd32(p, 1); }

/* New reference to the text of an address, as socket.inet_ntop writes it (it calls the same libc). */
static PyObject *addr_text(Cutter *self, const unsigned char *a, int len)
{
    uint32_t h = 2166136261u;
    for (int i = 0; i < len; i++)
        h = (h ^ a[i]) * 16777619u;
    MemoSlot *slot = &self->memo[h & (MEMO_SLOTS - 1)];
    if (slot->len == len && memcmp(slot->key, a, (size_t)len) == 0) {
        Py_INCREF(slot->text);
        return slot->text;
    }
    char buf[INET6_ADDRSTRLEN + 1];
    if (inet_ntop(len == 4 ? AF_INET : AF_INET6, a, buf, sizeof buf) == NULL) {
        PyErr_SetFromErrno(PyExc_OSError);
        return NULL;
    }
    PyObject *text = PyUnicode_FromString(buf);
    if (text == NULL)
        return NULL;
    Py_XSETREF(slot->text, text);
    slot->len = (unsigned char)len;
    memcpy(slot->key, a, (size_t)len);
    Py_INCREF(text);
    return text;
}

/* A tuple-subclass instance (what tuple.__new__(cls, items) builds) of atomic items (stolen); NULL on error. */
static PyObject *new_tuple_of(PyTypeObject *type, PyObject **items, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (items[i] == NULL) {
            for (Py_ssize_t j = 0; j < n; j++)
                Py_XDECREF(items[j]);
            return NULL;
        }
    }
    PyObject *obj = type->tp_alloc(type, n);
    if (obj == NULL) {
        for (Py_ssize_t j = 0; j < n; j++)
            Py_DECREF(items[j]);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        PyTuple_SET_ITEM(obj, i, items[i]);
    /* Only ints, str, bytes and bools inside: it can never be part of a reference cycle, so the
     * cyclic GC need not walk it (CPython untracks such exact tuples itself; subclasses it does not). */
    if (PyObject_GC_IsTracked(obj))
        PyObject_GC_UnTrack(obj);
    return obj;
}

/* linktypes.py: (net, offset) of the frame's network layer; NET_PYTHON for link types not done here. */
static int link_layer(int linktype, const unsigned char *d, Py_ssize_t cap, Py_ssize_t *off)
{
    unsigned etype, af;
    switch (linktype) {
    case 1: /* Ethernet, any stack of 802.1Q / 802.1ad / QinQ tags */
        if (cap < 14)
            return NET_TRUNCATED;
        etype = be16(d + 12);
        *off = 14;
        while (etype == 0x8100 || etype == 0x88A8 || etype == 0x9100 || etype == 0x9200) {
            if (cap < *off + 4)
                return NET_TRUNCATED;
            etype = be16(d + *off + 2);
            *off += 4;
        }
        goto ether;
    case 113: /* LINUX_SLL */
        if (cap < 16)
            return NET_TRUNCATED;
        etype = be16(d + 14);
        *off = 16;
        goto ether;
    case 276: /* LINUX_SLL2 */
        if (cap < 20)
            return NET_TRUNCATED;
        etype = be16(d);
        *off = 20;
        goto ether;
    case 0: /* NULL: host byte order, guessed */
        if (cap < 4)
            return NET_TRUNCATED;
        af = rd32(d, 0);
        if (af & 0xFFFF0000u)
            af = rd32(d, 1);
        *off = 4;
        goto family;
    case 108: /* LOOP: network byte order */
        if (cap < 4)
            return NET_TRUNCATED;
        af = rd32(d, 1);
        *off = 4;
        goto family;
    case 101: case 12: case 14: /* RAW */
        if (cap < 1)
            return NET_TRUNCATED;
        *off = 0;
        return (d[0] >> 4) == 6 ? NET_IPV6 : NET_IPV4;
    case 228:
        *off = 0;
        return NET_IPV4;
    case 229:
        *off = 0;
        return NET_IPV6;
    default:
        return NET_PYTHON;
    }
ether:
    if (etype == 0x0800)
        return NET_IPV4;
    if (etype == 0x86DD)
        return NET_IPV6;
    return NET_OTHER;
family:
    if (af == 2)
        return NET_IPV4;
    if (af == 10 || af == 24 || af == 28 || af == 30)
        return NET_IPV6;
    return NET_OTHER;
}

/* Outcome of decoding one record. */
enum { R_SEGMENT, R_NON_IP, R_NON_TCP, R_TRUNCATED, R_PYTHON };

typedef struct {
    Py_ssize_t t, p, end, avail; /* TCP header, payload start, IP payload end, captured end */
    const unsigned char *src;
    int addr_len, version;
    int ipv4, ipv6, fragment; /* counters this record adds when it is decided here */
} Decoded;

/* decode.py PacketDecoder._tcp, without building anything: R_SEGMENT, R_TRUNCATED or R_PYTHON. */
static int tcp_header(const unsigned char *d, Decoded *r)
{
    Py_ssize_t t = r->t;
    if (r->end - t < 20)
        return R_PYTHON; /* malformed_tcp */
    if (r->avail - t < 20)
        return R_TRUNCATED;
    Py_ssize_t hlen = (Py_ssize_t)(be16(d + t + 12) >> 12) << 2;
    if (hlen < 20)
        return R_PYTHON;
    Py_ssize_t p = t + hlen;
    if (p > r->end)
        return R_PYTHON;
    if (p > r->avail)
        return R_TRUNCATED;
    r->p = p;
    return R_SEGMENT;
}

/* decode.py PacketDecoder.decode for one frame. */
static int decode(int linktype, const unsigned char *d, Py_ssize_t cap, long long wire_len, Decoded *r)
{
    Py_ssize_t off = 0;
    r->ipv4 = r->ipv6 = r->fragment = 0;
    int net = link_layer(linktype, d, cap, &off);
    if (net == NET_PYTHON)
        return R_PYTHON;
    if (net == NET_TRUNCATED)
        return R_TRUNCATED;
    if (net == NET_OTHER)
        return R_NON_IP;
    if (net == NET_IPV4) { /* RFC 791 section 3.1 */
        r->ipv4 = 1;
        if (cap - off < 20)
            return R_TRUNCATED;
        const unsigned char *h = d + off;
        unsigned vihl = h[0];
        long long total_len = be16(h + 2);
        unsigned frag = be16(h + 6);
        unsigned proto = h[9];
        Py_ssize_t ihl = (Py_ssize_t)(vihl & 15) << 2;
        if ((vihl >> 4) != 4 || ihl < 20)
            return R_PYTHON;
        if (total_len < ihl) {
            if (total_len == 0 && wire_len - off >= ihl)
                total_len = wire_len - off; /* TSO/GSO */
            else
                return R_PYTHON;
        }
        long long end = off + total_len;
        if (end > cap && (end > wire_len || cap >= wire_len))
            return R_PYTHON;
        if (proto != 6) {
            if (frag & 0x3FFF)
                r->fragment = 1;
            return R_NON_TCP;
        }
        if (cap < off + ihl)
            return R_TRUNCATED;
        if (frag & 0x3FFF)
            return R_PYTHON; /* a fragment: ipfrag's job */
        r->src = h + 12;
        r->addr_len = 4;
        r->version = 4;
        r->t = off + ihl;
        r->end = (Py_ssize_t)end;
        r->avail = end <= cap ? (Py_ssize_t)end : cap;
        return tcp_header(d, r);
    }
    /* IPv6, RFC 8200 section 3 */
    r->ipv6 = 1;
    if (cap - off < 40)
        return R_TRUNCATED;
    const unsigned char *h = d + off;
    if ((h[0] >> 4) != 6)
        return R_PYTHON;
    long long payload_len = be16(h + 4);
    unsigned nh = h[6];
    if (payload_len == 0 && nh != 59 && wire_len - off > 40)
        payload_len = wire_len - off - 40; /* TSO/GSO */
    long long end = off + 40 + payload_len;
    if (end > cap && (end > wire_len || cap >= wire_len))
        return R_PYTHON;
    if (nh != 6) {
        /* extension headers (generic 0, 43, 60, 135, 139, 140; fragment 44; AH 51): Python walks them */
        if (nh == 0 || nh == 43 || nh == 60 || nh == 135 || nh == 139 || nh == 140 || nh == 44 || nh == 51)
            return R_PYTHON;
        return R_NON_TCP;
    }
    r->src = h + 8;
    r->addr_len = 16;
    r->version = 6;
    r->t = off + 40;
    r->end = (Py_ssize_t)end;
    r->avail = end <= cap ? (Py_ssize_t)end : cap;
    return tcp_header(d, r);
}

static PyObject *build_segment(Cutter *self, const unsigned char *d, const Decoded *r, long number,
                               PyObject *ts_obj, long long *counts)
{
    const unsigned char *t = d + r->t;
    int truncated = r->avail < r->end;
    PyObject *src = addr_text(self, r->src, r->addr_len);
    if (src == NULL)
        return NULL;
    PyObject *dst = addr_text(self, r->src + r->addr_len, r->addr_len);
    if (dst == NULL) {
        Py_DECREF(src);
        return NULL;
    }
    Py_INCREF(ts_obj);
    PyObject *items[13] = {
        PyLong_FromLong(number),
        ts_obj,
        src,
        PyLong_FromLong((long)be16(t)),
        dst,
        PyLong_FromLong((long)be16(t + 2)),
        PyLong_FromUnsignedLong(be32(t + 4)),
        PyLong_FromUnsignedLong(be32(t + 8)),
        PyLong_FromLong((long)(be16(t + 12) & 0x0FFF)),
        PyBytes_FromStringAndSize((const char *)d + r->p, (truncated ? r->avail : r->end) - r->p),
        PyLong_FromLong(r->version),
        Py_NewRef(truncated ? Py_True : Py_False),
        PyLong_FromSsize_t(r->end - r->p),
    };
    PyObject *seg = new_tuple_of(self->segment_type, items, 13);
    if (seg != NULL) {
        counts[C_TCP]++;
        if (truncated)
            counts[C_TCP_TRUNCATED]++;
    }
    return seg;
}

/* ---------------------------------------------------------------------------------------------
 * FastFlows: the common case of smtpsniff/reassembly/table.py TcpReassembler.feed, in C.
 *
 * The reassembler hands over a connection ("adds a flow") only while it is established and
 * nothing is pending: both directions started, nothing held behind a hole, at most one FIN and that
 * one done (every byte before it delivered), no unresolved acknowledgement.  For such a flow a
 * segment without SYN/RST, not cut by the snaplen, whose payload (if any) starts exactly at the next
 * expected byte and whose ACK does not acknowledge bytes the peer has not been seen sending, is
 * handled here exactly as feed() would: the bytes become the StreamData feed() would build, the
 * activity (time, frame, packets, LRU order) and the retained window of recent bytes are kept, the
 * counters counted.  A FIN without data at the next expected byte of a direction without one becomes
 * a tuple for TcpReassembler.fast_fin, which sets it there and closes the connection at the second
 * (see fast_fin below).  For an ignored connection (TcpReassembler.ignore) any segment without
 * SYN/FIN/RST is only counted.  Anything else "freezes" the flow: from then on its segments go to
 * Python, which takes the flow's state back ("pull") before handling the first of them.  At the idle
 * sweeps feed_batch runs every EXPIRE_EVERY_FRAMES records, flows idle for the idle timeout are
 * frozen too and reported, so the reassembler expires them at the same record as the pure-Python
 * path does.  A flow closed here stays as a tomb while the reassembler lingers it (FLOW_TOMB below).
 *
 * A recording flow (TcpReassembler.record: the consumer only keeps its bytes for later) builds no
 * StreamData: its deliveries are kept here, in order, and handed out together as one StreamChunks,
 * in the batch once record_parts payloads or record_bytes octets are kept, and with its state when
 * Python pulls it, before Python makes any event of its own for the connection.
 * ------------------------------------------------------------------------------------------- */

/* FLOW_TOMB: a connection this table closed with a FIN (the reassembler lingers it, TcpReassembler._closed);
 * its late non-SYN packets within the linger time are counted here.  FLOW_DEAD: a tomb a packet was left
 * to Python at (the reassembler may have forgotten it or opened a new connection on its 4-tuple): only
 * its drop_tomb() is left.  Both stay until the reassembler calls drop_tomb(). */
enum { FLOW_FREE = 0, FLOW_FAST = 1, FLOW_FROZEN = 2, FLOW_TOMB = 3, FLOW_DEAD = 4 };
enum { T_FIN = 0x01, T_SYN = 0x02, T_RST = 0x04, T_ACK = 0x10 };
#define SEQ_HALF 0x80000000u
#define SLOT_EMPTY (-1)
#define SLOT_DELETED (-2)

/* StreamData's fields, in the order new_stream_data takes them (smtpsniff/reassembly/stream.py). */
static const char *const DATA_FIELDS[7] = {"conn_id", "direction", "offset", "data", "ts_ns", "frame", "frames"};

typedef struct {
    PyObject *recent;     /* the stream's window of recent delivered bytes (a bytearray), or NULL */
    long long nxt;        /* stream offset of the next byte */
    uint32_t nxt_seq;     /* its sequence number */
    long long delivered;  /* bytes delivered here since the flow was added */
    int fin;              /* its FIN was seen and every byte before it delivered: no more data */
    /* The window is written lazily (see recent_push): its length as stream.py keeps it, and the
     * payloads delivered since it was last written (new references to the StreamData bytes),
     * pend[pend_head:npend], oldest first, pend_bytes long. */
    long long rlen;
    PyObject **pend;
    int pend_head, npend, pend_cap;
    long long pend_bytes;
} FlowDir;

typedef struct {
    int state, ignored;
    PyObject *conn, *conn_id;
    FlowDir dir[2]; /* 0: the client's bytes (c2s), 1: the server's (s2c) */
    long long last_ts, last_frame, packets;
    long long closed_ts; /* FLOW_TOMB: ts of the FIN that closed it */
    int prev, next; /* LRU list of FAST flows, least recently active first; -1: none */
    int next_free;
    int addr_len;
    unsigned char client[16], server[16];
    unsigned client_port, server_port;
    /* A recording flow (TcpReassembler.record) keeps its deliveries here instead of building a
     * StreamData for each: rec_n payloads (new references), their sides and (offset, ts, frame)
     * triples, rec_bytes octets in all, handed out as one StreamChunks (record_take). */
    int recording;
    int rec_n, rec_cap;
    long long rec_bytes;
    PyObject **rec_parts;
    unsigned char *rec_sides;
    long long *rec_meta;
} Flow;

typedef struct {
    int flow; /* index into flows, SLOT_EMPTY or SLOT_DELETED */
    int side; /* 0: the key is client -> server */
    uint32_t hash;
} Slot;

typedef struct {
    Slot *slots;
    size_t cap, used; /* used counts deleted slots too */
} SlotTable;

typedef struct {
    PyObject_HEAD
    PyTypeObject *data_type;
    Py_ssize_t data_off[7];
    PyTypeObject *chunks_type; /* StreamChunks, or NULL: no flow records */
    Py_ssize_t chunks_off[5];
    Py_ssize_t record_parts;   /* a recording flow hands its deliveries out at this many ... */
    long long record_bytes;    /* ... or this many octets (and when Python pulls it) */
    PyObject *dir_obj[2];
    long long retain, retain_trim, idle_timeout, linger;
    Flow *flows;
    int flows_cap, free_head, in_use, fast;
    int tombs;          /* flows in FLOW_TOMB or FLOW_DEAD state */
    int tombs_enabled;  /* set by the reassembler per chunk: tombs are made and used only then */
    SlotTable live;  /* FLOW_FAST and FLOW_FROZEN flows, looked up for every segment */
    SlotTable dead;  /* FLOW_TOMB and FLOW_DEAD flows, looked up only when `live` has none: kept apart
                      * so that the tombs of the last linger time (thousands) keep no cache lines of
                      * the live table busy */
    int lru_head, lru_tail;
    /* The latest capture time of the idle sweeps the current cut ran ahead of (swept: there was one):
     * the reassembler forgets there the tombs closed a linger time before it, which, with capture
     * times that go back, later records of the cut may still fall within (see tomb_segment). */
    long long swept_ts;
    int swept;
    long long segments, bytes_delivered, ignored_packets, late_packets; /* since the last counters() */
    long long handled;                                   /* segments handled here, ever */
} FastFlows;

static PyTypeObject FastFlowsType;

static uint32_t flow_hash(const unsigned char *src, const unsigned char *dst, int len, unsigned sport, unsigned dport)
{
    uint32_t h = 2166136261u ^ (uint32_t)len;
    for (int i = 0; i < len; i++)
        h = (h ^ src[i]) * 16777619u;
    for (int i = 0; i < len; i++)
        h = (h ^ dst[i]) * 16777619u;
    h = (h ^ sport) * 16777619u;
    h = (h ^ dport) * 16777619u;
    h ^= h >> 16;
    h *= 0x45d9f3bu;
    h ^= h >> 16;
    return h;
}

static int slot_matches(const FastFlows *f, const Slot *s, const unsigned char *src, const unsigned char *dst,
                        int len, unsigned sport, unsigned dport)
{
    const Flow *fl = &f->flows[s->flow];
    if (fl->addr_len != len)
        return 0;
    if (s->side == 0)
        return sport == fl->client_port && dport == fl->server_port && memcmp(src, fl->client, (size_t)len) == 0 &&
               memcmp(dst, fl->server, (size_t)len) == 0;
    return sport == fl->server_port && dport == fl->client_port && memcmp(src, fl->server, (size_t)len) == 0 &&
           memcmp(dst, fl->client, (size_t)len) == 0;
}

static Slot *find_slot(FastFlows *f, const SlotTable *t, uint32_t h, const unsigned char *src,
                       const unsigned char *dst, int len, unsigned sport, unsigned dport)
{
    if (t->cap == 0)
        return NULL;
    size_t mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        Slot *s = &t->slots[i];
        if (s->flow == SLOT_EMPTY)
            return NULL;
        if (s->flow >= 0 && s->hash == h && slot_matches(f, s, src, dst, len, sport, dport))
            return s;
    }
}

static void put_slot(SlotTable *t, int flow, int side, uint32_t h)
{
    size_t mask = t->cap - 1;
    size_t i = h & mask;
    while (t->slots[i].flow >= 0)
        i = (i + 1) & mask;
    if (t->slots[i].flow == SLOT_EMPTY)
        t->used++;
    t->slots[i].flow = flow;
    t->slots[i].side = side;
    t->slots[i].hash = h;
}

static uint32_t side_hash(const Flow *fl, int side)
{
    return side == 0 ? flow_hash(fl->client, fl->server, fl->addr_len, fl->client_port, fl->server_port)
                     : flow_hash(fl->server, fl->client, fl->addr_len, fl->server_port, fl->client_port);
}

static int in_dead_table(const Flow *fl) { return fl->state == FLOW_TOMB || fl->state == FLOW_DEAD; }

/* Room in `t` for two more slots, at most half full (deleted slots included): rebuilt when needed,
 * sized for its `count` flows (the flows array tells which are its own by their state). */
static int reserve_slots(FastFlows *f, SlotTable *t, int count)
{
    if ((t->used + 2) * 2 <= t->cap)
        return 0;
    size_t cap = 64;
    while (cap < ((size_t)count + 1) * 8)
        cap <<= 1;
    Slot *slots = PyMem_Malloc(cap * sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < cap; i++)
        slots[i].flow = SLOT_EMPTY;
    PyMem_Free(t->slots);
    t->slots = slots;
    t->cap = cap;
    t->used = 0;
    int dead = t == &f->dead;
    for (int i = 0; i < f->flows_cap; i++) {
        const Flow *fl = &f->flows[i];
        if (fl->state != FLOW_FREE && in_dead_table(fl) == dead) {
            put_slot(t, i, 0, side_hash(fl, 0));
            put_slot(t, i, 1, side_hash(fl, 1));
        }
    }
    return 0;
}

static void drop_slot(FastFlows *f, SlotTable *t, int idx, int side)
{
    const Flow *fl = &f->flows[idx];
    uint32_t h = side_hash(fl, side);
    size_t mask = t->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        Slot *s = &t->slots[i];
        if (s->flow == SLOT_EMPTY)
            return;
        if (s->flow == idx && s->side == side) {
            s->flow = SLOT_DELETED;
            return;
        }
    }
}

static void lru_unlink(FastFlows *f, int idx)
{
    Flow *fl = &f->flows[idx];
    if (fl->prev >= 0)
        f->flows[fl->prev].next = fl->next;
    else
        f->lru_head = fl->next;
    if (fl->next >= 0)
        f->flows[fl->next].prev = fl->prev;
    else
        f->lru_tail = fl->prev;
    fl->prev = fl->next = -1;
}

/* Insert after `after` (-1: at the head). */
static void lru_insert_after(FastFlows *f, int idx, int after)
{
    Flow *fl = &f->flows[idx];
    fl->prev = after;
    fl->next = after >= 0 ? f->flows[after].next : f->lru_head;
    if (fl->next >= 0)
        f->flows[fl->next].prev = idx;
    else
        f->lru_tail = idx;
    if (after >= 0)
        f->flows[after].next = idx;
    else
        f->lru_head = idx;
}

static void freeze(FastFlows *f, int idx)
{
    Flow *fl = &f->flows[idx];
    if (fl->state == FLOW_FAST) {
        lru_unlink(f, idx);
        f->fast--;
    }
    fl->state = FLOW_FROZEN;
}

/* A new object of frozen, slotted `type` whose n slots at `offsets` take `vals`: n new references
 * (stolen; NULLs allowed: then they are all released and NULL is returned).  The values are of kinds
 * that hold no reference back (ints, bytes, an enum member, tuples of those), so the object can never
 * be part of a cycle and is not tracked by the collector. */
static PyObject *new_frozen(PyTypeObject *type, const Py_ssize_t *offsets, PyObject **vals, int n)
{
    PyObject *obj = NULL;
    for (int i = 0; i < n; i++)
        if (vals[i] == NULL)
            goto fail;
    obj = type->tp_alloc(type, 0);
    if (obj == NULL)
        goto fail;
    for (int i = 0; i < n; i++)
        *(PyObject **)((char *)obj + offsets[i]) = vals[i];
    if (PyObject_GC_IsTracked(obj))
        PyObject_GC_UnTrack(obj);
    return obj;
fail:
    for (int i = 0; i < n; i++)
        Py_XDECREF(vals[i]);
    return NULL;
}

/* A new StreamData from 7 new references (stolen, NULLs allowed: then NULL is returned). */
static PyObject *new_stream_data(FastFlows *f, PyObject **vals)
{
    return new_frozen(f->data_type, f->data_off, vals, 7);
}

/* StreamChunks' fields, in the order record_take fills them (smtpsniff/reassembly/events.py). */
static const char *const CHUNKS_FIELDS[5] = {"conn_id", "parts", "directions", "times", "size"};

/* Forget a flow's recorded deliveries (none are left once it was pulled; when the table goes, those kept). */
static void record_clear(Flow *fl)
{
    for (int i = 0; i < fl->rec_n; i++)
        Py_DECREF(fl->rec_parts[i]);
    PyMem_Free(fl->rec_parts);
    PyMem_Free(fl->rec_sides);
    PyMem_Free(fl->rec_meta);
    fl->rec_parts = NULL;
    fl->rec_sides = NULL;
    fl->rec_meta = NULL;
    fl->rec_n = fl->rec_cap = 0;
    fl->rec_bytes = 0;
}

/* Keep a delivery of a recording flow: `payload` (a new reference, stolen) at stream `offset`. */
static int record_push(Flow *fl, int side, PyObject *payload, long long offset, long long ts, long number)
{
    if (fl->rec_n == fl->rec_cap) {
        int cap = fl->rec_cap ? fl->rec_cap * 2 : 16;
        PyObject **parts = PyMem_Realloc(fl->rec_parts, (size_t)cap * sizeof(PyObject *));
        if (parts != NULL)
            fl->rec_parts = parts;
        unsigned char *sides = parts ? PyMem_Realloc(fl->rec_sides, (size_t)cap) : NULL;
        if (sides != NULL)
            fl->rec_sides = sides;
        long long *meta = sides ? PyMem_Realloc(fl->rec_meta, (size_t)cap * 3 * sizeof(long long)) : NULL;
        if (meta == NULL) {
            Py_DECREF(payload);
            PyErr_NoMemory();
            return -1;
        }
        fl->rec_meta = meta;
        fl->rec_cap = cap;
    }
    int i = fl->rec_n++;
    fl->rec_parts[i] = payload;
    fl->rec_sides[i] = (unsigned char)side;
    fl->rec_meta[3 * i] = offset;
    fl->rec_meta[3 * i + 1] = ts;
    fl->rec_meta[3 * i + 2] = number;
    fl->rec_bytes += PyBytes_GET_SIZE(payload);
    return 0;
}

/* The recorded deliveries as one new StreamChunks, emptied here; None when there are none. */
static PyObject *record_take(FastFlows *f, Flow *fl)
{
    int n = fl->rec_n;
    if (n == 0)
        return Py_NewRef(Py_None);
    PyObject *parts = PyTuple_New(n);
    PyObject *vals[5] = {
        Py_NewRef(fl->conn_id),
        parts,
        PyBytes_FromStringAndSize((const char *)fl->rec_sides, n),
        PyBytes_FromStringAndSize((const char *)fl->rec_meta, (Py_ssize_t)n * 3 * (Py_ssize_t)sizeof(long long)),
        PyLong_FromLongLong(fl->rec_bytes),
    };
    /* On failure the tuple goes with its items unset; the deliveries stay the flow's. */
    PyObject *obj = new_frozen(f->chunks_type, f->chunks_off, vals, 5);
    if (obj == NULL)
        return NULL;
    for (int i = 0; i < n; i++)
        PyTuple_SET_ITEM(parts, i, fl->rec_parts[i]); /* the references move to the tuple */
    fl->rec_n = 0;
    fl->rec_bytes = 0;
    return obj;
}

/* At most this many payloads wait for a direction's window to be written (see recent_push). */
#define RECENT_PENDING_MAX 256

/* stream.py keeps the last delivered bytes of a direction in a bytearray: recent += data, trimmed to
 * `retain` bytes once longer than `retain_trim`.  Its content is always the last len(recent) bytes
 * of the direction (no gaps while a flow is here), so here only that length is kept per payload,
 * with references to the payloads (the StreamData bytes, built anyway) that may still be in it;
 * recent_flush writes the bytearray only when Python is to read it (a pull), or when too many
 * payloads wait.  Payloads wholly before the window are let go at once: for a busy direction the
 * bytes are never copied, where appending copied each twice (append, trim). */
static int recent_flush(FlowDir *d)
{
    if (d->npend == d->pend_head)
        return 0; /* nothing delivered since the last flush: the bytearray is the window */
    PyObject *ba = d->recent;
    Py_ssize_t ba_len = PyByteArray_GET_SIZE(ba);
    long long from_pend = d->pend_bytes < d->rlen ? d->pend_bytes : d->rlen;
    Py_ssize_t keep = (Py_ssize_t)(d->rlen - from_pend); /* the bytearray's last bytes still in the window */
    if (keep > ba_len) {
        PyErr_SetString(PyExc_SystemError, "recent window longer than its bytes");
        return -1;
    }
    if (keep < ba_len && keep > 0) {
        char *b = PyByteArray_AS_STRING(ba);
        memmove(b, b + (ba_len - keep), (size_t)keep);
    }
    if (PyByteArray_Resize(ba, (Py_ssize_t)d->rlen) < 0)
        return -1;
    char *out = PyByteArray_AS_STRING(ba) + keep;
    long long skip = d->pend_bytes - from_pend; /* pending bytes before the window */
    for (int i = d->pend_head; i < d->npend; i++) {
        PyObject *p = d->pend[i];
        Py_ssize_t n = PyBytes_GET_SIZE(p);
        if (skip >= n) {
            skip -= n;
        } else {
            memcpy(out, PyBytes_AS_STRING(p) + skip, (size_t)(n - skip));
            out += n - skip;
            skip = 0;
        }
        Py_DECREF(p);
    }
    d->pend_head = d->npend = 0;
    d->pend_bytes = 0;
    return 0;
}

/* Forget the window and what waits for it (the flow is ignored, pulled or freed). */
static void recent_clear(FlowDir *d)
{
    for (int i = d->pend_head; i < d->npend; i++)
        Py_DECREF(d->pend[i]);
    PyMem_Free(d->pend);
    d->pend = NULL;
    d->pend_head = d->npend = d->pend_cap = 0;
    d->pend_bytes = 0;
    Py_CLEAR(d->recent);
}

/* `payload` (n bytes, borrowed) was delivered: stream.py's recent += payload and trim, lazily. */
static int recent_push(FastFlows *f, FlowDir *d, PyObject *payload, Py_ssize_t n)
{
    if (d->npend == d->pend_cap) {
        if (d->pend_head > 0) { /* room at the front */
            memmove(d->pend, d->pend + d->pend_head, (size_t)(d->npend - d->pend_head) * sizeof(PyObject *));
            d->npend -= d->pend_head;
            d->pend_head = 0;
        } else if (d->pend_cap == RECENT_PENDING_MAX) {
            if (recent_flush(d) < 0)
                return -1;
        } else {
            int cap = d->pend_cap ? d->pend_cap * 2 : 8;
            PyObject **pend = PyMem_Realloc(d->pend, (size_t)cap * sizeof(PyObject *));
            if (pend == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            d->pend = pend;
            d->pend_cap = cap;
        }
    }
    d->pend[d->npend++] = Py_NewRef(payload);
    d->pend_bytes += n;
    d->rlen += n;
    if (d->rlen > f->retain_trim)
        d->rlen = f->retain;
    /* only the last rlen bytes can ever be in the window again: older payloads are let go */
    while (d->npend - d->pend_head > 1) {
        PyObject *oldest = d->pend[d->pend_head];
        Py_ssize_t size = PyBytes_GET_SIZE(oldest);
        if (d->pend_bytes - size < d->rlen)
            break;
        d->pend_bytes -= size;
        d->pend_head++;
        Py_DECREF(oldest);
    }
    /* once the payloads hold the whole window, the bytearray's bytes are not needed any more */
    if (d->pend_bytes >= d->rlen && PyByteArray_GET_SIZE(d->recent) > 0 && PyByteArray_Resize(d->recent, 0) < 0)
        return -1;
    return 0;
}

/* A late packet of a FLOW_TOMB connection: 1 counted here (*item None), 0 Python's job (the tomb dies).
 * table.py _first_packet: within Limits.closed_linger_ns of the close, a packet that is not a SYN
 * (a SYN may start a new connection) is a late packet: counted, dropped.  Strictly within it here, and
 * only while no idle sweep of this cut reached the end of the linger time (TcpReassembler.expire, run
 * before the sweep's record, forgets tombs that old: with capture times that go back, a later record
 * may fall within the linger time again, and is then a new connection's first packet there); a
 * snaplen-cut packet is left to Python too (its counts are decode's). */
static int tomb_segment(FastFlows *f, Flow *fl, const Decoded *r, unsigned flags, long long ts, PyObject **item)
{
    if (!f->tombs_enabled)
        return 0;
    if (fl->state == FLOW_TOMB && !(flags & T_SYN) && r->avail >= r->end && ts - fl->closed_ts < f->linger &&
        !(f->swept && f->swept_ts - fl->closed_ts >= f->linger)) {
        f->late_packets++;
        f->segments++;
        f->handled++;
        *item = Py_NewRef(Py_None);
        return 1;
    }
    fl->state = FLOW_DEAD;
    return 0;
}

/* A FIN without data at the next expected sequence number of a direction without one, on a FAST flow
 * not ignored, with an acceptable ACK (checked by the caller): table.py _slow would set that direction's
 * FIN (done at once: every byte before it delivered) and, when the peer's FIN is done too, close the
 * connection (CloseReason.FIN, lingering).  *item: a new (conn, side, fin offset, frame, ts, closes)
 * tuple for TcpReassembler.fast_fin; a closing flow becomes a FLOW_TOMB (FLOW_FROZEN when tombs are off). */
static int fast_fin(FastFlows *f, Flow *fl, int idx, int side, long number, long long ts, PyObject **item)
{
    FlowDir *me = &fl->dir[side];
    int closes = fl->dir[1 - side].fin;
    PyObject *marker = Py_BuildValue("(OiLlLO)", fl->conn, side, me->nxt, number, ts, closes ? Py_True : Py_False);
    if (marker == NULL)
        return -1;
    if (closes) {
        /* the dead table's room first: a failed allocation leaves the flow as it was */
        if (f->tombs_enabled && reserve_slots(f, &f->dead, f->tombs + 1) < 0) {
            Py_DECREF(marker);
            return -1;
        }
        freeze(f, idx);
        if (f->tombs_enabled) {
            drop_slot(f, &f->live, idx, 0);
            drop_slot(f, &f->live, idx, 1);
            fl->state = FLOW_TOMB;
            fl->closed_ts = ts;
            f->tombs++;
            put_slot(&f->dead, idx, 0, side_hash(fl, 0));
            put_slot(&f->dead, idx, 1, side_hash(fl, 1));
        }
    }
    me->fin = 1;
    *item = marker;
    return 1;
}

/* The segment decoded in `r`: 1 handled here (*item: a new reference to what replaces the segment
 * in the batch: the StreamData, the flow's connection object for a pure ACK, None for a packet of an
 * ignored connection or a late packet of a closed one, a tuple for a FIN (see fast_fin); for a
 * recording flow's data, None while its deliveries are kept, the StreamChunks of them once
 * record_parts or record_bytes are reached), 0 Python's job (the flow, if FAST, is frozen), -1 error. */
static int fast_segment(FastFlows *f, const unsigned char *d, const Decoded *r, long number, long long ts,
                        PyObject **item)
{
    const unsigned char *t = d + r->t;
    const unsigned char *src = r->src, *dst = r->src + r->addr_len;
    unsigned sport = be16(t), dport = be16(t + 2);
    uint32_t h = flow_hash(src, dst, r->addr_len, sport, dport);
    unsigned flags = be16(t + 12) & 0x0FFF;
    Slot *s = f->fast ? find_slot(f, &f->live, h, src, dst, r->addr_len, sport, dport) : NULL;
    if (s == NULL) {
        if (f->tombs && (s = find_slot(f, &f->dead, h, src, dst, r->addr_len, sport, dport)) != NULL)
            return tomb_segment(f, &f->flows[s->flow], r, flags, ts, item);
        return 0;
    }
    int idx = s->flow, side = s->side;
    Flow *fl = &f->flows[idx];
    if (fl->state != FLOW_FAST)
        return 0;
    if ((flags & (T_SYN | T_RST)) || ((flags & T_FIN) && fl->ignored)) {
        freeze(f, idx);
        return 0;
    }
    if (fl->ignored) {
        f->ignored_packets++;
        *item = Py_NewRef(Py_None);
    } else {
        FlowDir *me = &fl->dir[side], *peer = &fl->dir[1 - side];
        Py_ssize_t plen = r->end - r->p;
        uint32_t seq = be32(t + 4);
        uint32_t acked = be32(t + 8) - peer->nxt_seq;
        int fin = (flags & T_FIN) != 0;
        /* An ACK past the bytes of a peer whose FIN is in and done acknowledges at most that FIN:
         * nothing to do (stream.py Stream.ack).  Data after this side's own FIN is Python's, and so is
         * a FIN with data, a second FIN, or one out of order. */
        if (r->avail < r->end || ((plen || fin) && (me->fin || seq != me->nxt_seq)) || (fin && plen) ||
            (!peer->fin && (flags & T_ACK) && acked && acked < SEQ_HALF)) {
            freeze(f, idx);
            return 0;
        }
        if (fin) {
            if (fast_fin(f, fl, idx, side, number, ts, item) < 0)
                return -1;
        } else if (plen && fl->recording) {
            PyObject *payload = PyBytes_FromStringAndSize((const char *)d + r->p, plen);
            if (payload == NULL)
                return -1;
            if (me->recent != NULL && recent_push(f, me, payload, plen) < 0) {
                Py_DECREF(payload);
                return -1;
            }
            if (record_push(fl, side, payload, me->nxt, ts, number) < 0)
                return -1;
            me->nxt += plen;
            me->nxt_seq = seq + (uint32_t)plen;
            me->delivered += plen;
            f->bytes_delivered += plen;
            if (fl->rec_n >= f->record_parts || fl->rec_bytes >= f->record_bytes) {
                if ((*item = record_take(f, fl)) == NULL)
                    return -1;
            } else {
                *item = Py_NewRef(Py_None); /* kept: nothing to hand out yet */
            }
        } else if (plen) {
            PyObject *frame = PyLong_FromLong(number);
            PyObject *vals[7] = {
                Py_NewRef(fl->conn_id),
                Py_NewRef(f->dir_obj[side]),
                PyLong_FromLongLong(me->nxt),
                PyBytes_FromStringAndSize((const char *)d + r->p, plen),
                PyLong_FromLongLong(ts),
                frame,
                frame == NULL ? NULL : PyTuple_Pack(1, frame),
            };
            PyObject *payload = vals[3];
            PyObject *data = new_stream_data(f, vals); /* steals `frame`; the tuple holds its own reference */
            if (data == NULL)
                return -1;
            if (me->recent != NULL && recent_push(f, me, payload, plen) < 0) { /* (data holds payload) */
                Py_DECREF(data);
                return -1;
            }
            me->nxt += plen;
            me->nxt_seq = seq + (uint32_t)plen;
            me->delivered += plen;
            f->bytes_delivered += plen;
            *item = data;
        } else {
            *item = Py_NewRef(fl->conn);
        }
    }
    fl->last_ts = ts;
    fl->last_frame = number;
    fl->packets++;
    f->segments++;
    f->handled++;
    if (fl->state == FLOW_FAST && f->lru_tail != idx) {
        lru_unlink(f, idx);
        lru_insert_after(f, idx, f->lru_tail);
    }
    return 1;
}

/* The idle sweep before record `index`: freeze the FAST flows idle at `now`; append (index, [conns]). */
static int sweep(FastFlows *f, long long now, Py_ssize_t index, PyObject *sweeps)
{
    long long cutoff = now - f->idle_timeout;
    PyObject *conns = NULL;
    while (f->lru_head >= 0 && f->flows[f->lru_head].last_ts <= cutoff) {
        int idx = f->lru_head;
        if (conns == NULL && (conns = PyList_New(0)) == NULL)
            return -1;
        if (PyList_Append(conns, f->flows[idx].conn) < 0) {
            Py_DECREF(conns);
            return -1;
        }
        freeze(f, idx);
    }
    if (conns == NULL)
        return 0;
    PyObject *entry = Py_BuildValue("(nN)", index, conns);
    if (entry == NULL)
        return -1;
    int rc = PyList_Append(sweeps, entry);
    Py_DECREF(entry);
    return rc;
}

static int parse_addr(const char *text, unsigned char *out)
{
    int family = strchr(text, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(family, text, out) != 1) {
        PyErr_Format(PyExc_ValueError, "not an IP address: %s", text);
        return -1;
    }
    return family == AF_INET6 ? 16 : 4;
}

static int set_recent(PyObject **slot, PyObject *value)
{
    if (value == Py_None) {
        *slot = NULL;
        return 0;
    }
    if (!PyByteArray_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "recent must be a bytearray or None");
        return -1;
    }
    *slot = Py_NewRef(value);
    return 0;
}

static PyObject *FastFlows_add(FastFlows *f, PyObject *args)
{
    PyObject *conn, *conn_id, *c_recent, *s_recent;
    int ignored, c_fin, s_fin, recording = 0;
    const char *cip, *sip;
    unsigned int cport, sport;
    long long c_nxt, s_nxt, last_ts, last_frame;
    unsigned long c_seq, s_seq;
    if (!PyArg_ParseTuple(args, "OOpsIsILkOpLkOpLL|p", &conn, &conn_id, &ignored, &cip, &cport, &sip, &sport, &c_nxt,
                          &c_seq, &c_recent, &c_fin, &s_nxt, &s_seq, &s_recent, &s_fin, &last_ts, &last_frame,
                          &recording))
        return NULL;
    if (recording && f->chunks_type == NULL) {
        PyErr_SetString(PyExc_ValueError, "a recording flow needs the table's chunks_type");
        return NULL;
    }
    unsigned char client[16], server[16];
    int clen = parse_addr(cip, client), slen = parse_addr(sip, server);
    if (clen < 0 || slen < 0)
        return NULL;
    if (clen != slen) {
        PyErr_SetString(PyExc_ValueError, "client and server addresses of different families");
        return NULL;
    }
    uint32_t h = flow_hash(client, server, clen, cport & 0xFFFF, sport & 0xFFFF);
    if (find_slot(f, &f->live, h, client, server, clen, cport & 0xFFFF, sport & 0xFFFF) != NULL ||
        find_slot(f, &f->dead, h, client, server, clen, cport & 0xFFFF, sport & 0xFFFF) != NULL) {
        PyErr_SetString(PyExc_ValueError, "a flow with this 4-tuple is already held");
        return NULL;
    }
    if (reserve_slots(f, &f->live, f->in_use - f->tombs + 1) < 0)
        return NULL;
    if (f->free_head < 0) {
        int cap = f->flows_cap ? f->flows_cap * 2 : 256;
        Flow *flows = PyMem_Realloc(f->flows, (size_t)cap * sizeof(Flow));
        if (flows == NULL)
            return PyErr_NoMemory();
        for (int i = f->flows_cap; i < cap; i++) {
            flows[i].state = FLOW_FREE;
            flows[i].next_free = i + 1 < cap ? i + 1 : -1;
        }
        f->free_head = f->flows_cap;
        f->flows = flows;
        f->flows_cap = cap;
    }
    int idx = f->free_head;
    Flow *fl = &f->flows[idx];
    PyObject *recents[2];
    if (set_recent(&recents[0], ignored ? Py_None : c_recent) < 0)
        return NULL;
    if (set_recent(&recents[1], ignored ? Py_None : s_recent) < 0) {
        Py_XDECREF(recents[0]);
        return NULL;
    }
    f->free_head = fl->next_free;
    memset(fl, 0, sizeof(Flow));
    fl->state = FLOW_FAST;
    fl->ignored = ignored;
    fl->recording = recording && !ignored;
    fl->conn = Py_NewRef(conn);
    fl->conn_id = Py_NewRef(conn_id);
    fl->dir[0] = (FlowDir){recents[0], c_nxt, (uint32_t)c_seq, 0, c_fin, 0, NULL, 0, 0, 0, 0};
    fl->dir[1] = (FlowDir){recents[1], s_nxt, (uint32_t)s_seq, 0, s_fin, 0, NULL, 0, 0, 0, 0};
    for (int i = 0; i < 2; i++)
        if (fl->dir[i].recent != NULL)
            fl->dir[i].rlen = PyByteArray_GET_SIZE(fl->dir[i].recent);
    fl->last_ts = last_ts;
    fl->last_frame = last_frame;
    fl->addr_len = clen;
    memcpy(fl->client, client, (size_t)clen);
    memcpy(fl->server, server, (size_t)clen);
    fl->client_port = cport & 0xFFFF;
    fl->server_port = sport & 0xFFFF;
    put_slot(&f->live, idx, 0, side_hash(fl, 0));
    put_slot(&f->live, idx, 1, side_hash(fl, 1));
    /* LRU by last activity: after the last flow active at or before this one's last frame */
    int after = f->lru_tail;
    while (after >= 0 && f->flows[after].last_frame > last_frame)
        after = f->flows[after].prev;
    lru_insert_after(f, idx, after);
    f->in_use++;
    f->fast++;
    return PyLong_FromLong(idx);
}

static Flow *held_flow(FastFlows *f, PyObject *arg, int *idx)
{
    long i = PyLong_AsLong(arg);
    if (i == -1 && PyErr_Occurred())
        return NULL;
    if (i < 0 || i >= f->flows_cap || f->flows[i].state == FLOW_FREE) {
        PyErr_Format(PyExc_KeyError, "no flow %ld", i);
        return NULL;
    }
    *idx = (int)i;
    return &f->flows[i];
}

static void free_flow(FastFlows *f, int idx)
{
    Flow *fl = &f->flows[idx];
    SlotTable *t = in_dead_table(fl) ? &f->dead : &f->live;
    drop_slot(f, t, idx, 0);
    drop_slot(f, t, idx, 1);
    Py_CLEAR(fl->conn);
    Py_CLEAR(fl->conn_id);
    recent_clear(&fl->dir[0]);
    recent_clear(&fl->dir[1]);
    record_clear(fl);
    fl->state = FLOW_FREE;
    fl->next_free = f->free_head;
    f->free_head = idx;
    f->in_use--;
}

/* pull(handle, closing=False) -> (last_ts, last_frame, packets, c2s nxt, nxt_seq, delivered, s2c nxt, nxt_seq,
 * delivered, tomb, chunks); chunks: a recording flow's deliveries not handed out yet (a StreamChunks),
 * else None; packets and delivered count what happened here since add(), and the streams'
 * windows of recent bytes are written (not when `closing`: the connection is closed at once, and its
 * windows dropped unread).  The flow is forgotten, unless it closed here as a FLOW_TOMB (tomb True):
 * the handle then stays the tomb's until drop_tomb(handle). */
static PyObject *FastFlows_pull(FastFlows *f, PyObject *args)
{
    int idx, closing = 0;
    PyObject *arg;
    if (!PyArg_ParseTuple(args, "O|p", &arg, &closing))
        return NULL;
    Flow *fl = held_flow(f, arg, &idx);
    if (fl == NULL)
        return NULL;
    for (int i = 0; i < 2 && !closing; i++)
        if (fl->dir[i].recent != NULL && recent_flush(&fl->dir[i]) < 0)
            return NULL;
    int tomb = fl->state == FLOW_TOMB || fl->state == FLOW_DEAD; /* closed here (dead: a later packet left to Python) */
    if (tomb && fl->conn == NULL) {
        PyErr_Format(PyExc_KeyError, "flow %d is a tomb already pulled", idx);
        return NULL;
    }
    PyObject *chunks = record_take(f, fl);
    if (chunks == NULL)
        return NULL;
    PyObject *state = Py_BuildValue("(LLLLkLLkLON)", fl->last_ts, fl->last_frame, fl->packets, fl->dir[0].nxt,
                                    (unsigned long)fl->dir[0].nxt_seq, fl->dir[0].delivered, fl->dir[1].nxt,
                                    (unsigned long)fl->dir[1].nxt_seq, fl->dir[1].delivered,
                                    tomb ? Py_True : Py_False, chunks);
    if (state == NULL)
        return NULL; /* (N: chunks released; what it held is lost with the error) */
    fl->recording = 0;
    if (fl->state == FLOW_FAST) {
        lru_unlink(f, idx);
        f->fast--;
    }
    if (tomb) {
        Py_CLEAR(fl->conn);
        Py_CLEAR(fl->conn_id);
        recent_clear(&fl->dir[0]);
        recent_clear(&fl->dir[1]);
        fl->packets = 0;
        fl->dir[0].delivered = fl->dir[1].delivered = 0;
    } else {
        free_flow(f, idx);
    }
    return state;
}

/* drop_tomb(handle): the reassembler forgot the lingering closed connection; so does the table. */
static PyObject *FastFlows_drop_tomb(FastFlows *f, PyObject *arg)
{
    int idx;
    Flow *fl = held_flow(f, arg, &idx);
    if (fl == NULL)
        return NULL;
    if (fl->state != FLOW_TOMB && fl->state != FLOW_DEAD) {
        PyErr_Format(PyExc_KeyError, "flow %d is not a tomb", idx);
        return NULL;
    }
    free_flow(f, idx);
    f->tombs--;
    Py_RETURN_NONE;
}

/* ignore(handle): the connection is ignored from now on; its streams' buffers are no longer kept. */
static PyObject *FastFlows_ignore(FastFlows *f, PyObject *arg)
{
    int idx;
    Flow *fl = held_flow(f, arg, &idx);
    if (fl == NULL)
        return NULL;
    if (fl->state == FLOW_TOMB || fl->state == FLOW_DEAD)
        Py_RETURN_NONE; /* closed here already: the reassembler closes it at its FIN */
    fl->ignored = 1;
    recent_clear(&fl->dir[0]);
    recent_clear(&fl->dir[1]);
    Py_RETURN_NONE;
}

/* record(handle): from the next segment on, keep the flow's deliveries for one StreamChunks (see record_take)
 * instead of a StreamData each. */
static PyObject *FastFlows_record(FastFlows *f, PyObject *arg)
{
    int idx;
    Flow *fl = held_flow(f, arg, &idx);
    if (fl == NULL)
        return NULL;
    if (f->chunks_type == NULL) {
        PyErr_SetString(PyExc_ValueError, "a recording flow needs the table's chunks_type");
        return NULL;
    }
    if (fl->state == FLOW_FAST || fl->state == FLOW_FROZEN)
        fl->recording = !fl->ignored;
    Py_RETURN_NONE;
}

/* counters() -> (segments, bytes_delivered, ignored_packets, late_packets) since the last call. */
static PyObject *FastFlows_counters(FastFlows *f, PyObject *Py_UNUSED(ignored))
{
    PyObject *out = Py_BuildValue("(LLLL)", f->segments, f->bytes_delivered, f->ignored_packets, f->late_packets);
    if (out != NULL)
        f->segments = f->bytes_delivered = f->ignored_packets = f->late_packets = 0;
    return out;
}

static PyObject *FastFlows_get_tombs_enabled(FastFlows *f, void *Py_UNUSED(closure))
{
    return PyBool_FromLong(f->tombs_enabled);
}

static int FastFlows_set_tombs_enabled(FastFlows *f, PyObject *value, void *Py_UNUSED(closure))
{
    int on = value == NULL ? -1 : PyObject_IsTrue(value);
    if (on < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "cannot delete tombs_enabled");
        return -1;
    }
    f->tombs_enabled = on;
    return 0;
}

static PyObject *FastFlows_get_tombs(FastFlows *f, void *Py_UNUSED(closure)) { return PyLong_FromLong(f->tombs); }

static PyObject *FastFlows_get_handled(FastFlows *f, void *Py_UNUSED(closure)) { return PyLong_FromLongLong(f->handled); }
static PyObject *FastFlows_get_fast(FastFlows *f, void *Py_UNUSED(closure)) { return PyLong_FromLong(f->fast); }
static Py_ssize_t FastFlows_len(FastFlows *f) { return f->in_use; }

/* The offsets of `type`'s writable object slots `names` (n of them), into `offsets`. */
static int slot_offsets(PyObject *type, const char *what, const char *const *names, int n, Py_ssize_t *offsets)
{
    for (int i = 0; i < n; i++) {
        PyObject *descr = PyObject_GetAttrString(type, names[i]);
        if (descr == NULL)
            return -1;
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX &&
                 !(((PyMemberDescrObject *)descr)->d_member->flags & READONLY);
        if (ok)
            offsets[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a slot", what, names[i]);
            return -1;
        }
    }
    return 0;
}

static int FastFlows_init(FastFlows *f, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"data_type", "c2s", "s2c", "retain", "retain_trim", "idle_timeout_ns",
                             "closed_linger_ns", "chunks_type", "record_parts", "record_bytes", NULL};
    PyObject *type, *c2s, *s2c, *chunks_type = Py_None;
    long long retain, retain_trim, idle, linger = 0, record_bytes = 1 << 18;
    Py_ssize_t record_parts = 256;
    if (f->data_type != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "FastFlows is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOLLL|LOnL", kwlist, &PyType_Type, &type, &c2s, &s2c, &retain,
                                     &retain_trim, &idle, &linger, &chunks_type, &record_parts, &record_bytes))
        return -1;
    if (retain < 0 || retain_trim < retain) {
        PyErr_SetString(PyExc_ValueError, "need 0 <= retain <= retain_trim");
        return -1;
    }
    if (record_parts < 1 || record_parts > INT_MAX / 2 || record_bytes < 1) {
        PyErr_SetString(PyExc_ValueError, "need 1 <= record_parts <= INT_MAX / 2 and record_bytes >= 1");
        return -1;
    }
    if (chunks_type != Py_None && !PyType_Check(chunks_type)) {
        PyErr_SetString(PyExc_TypeError, "chunks_type must be a type or None");
        return -1;
    }
    if (slot_offsets(type, "data_type", DATA_FIELDS, 7, f->data_off) < 0)
        return -1;
    if (chunks_type != Py_None && slot_offsets(chunks_type, "chunks_type", CHUNKS_FIELDS, 5, f->chunks_off) < 0)
        return -1;
    f->chunks_type = chunks_type == Py_None ? NULL : (PyTypeObject *)Py_NewRef(chunks_type);
    f->record_parts = record_parts;
    f->record_bytes = record_bytes;
    f->data_type = (PyTypeObject *)Py_NewRef(type);
    f->dir_obj[0] = Py_NewRef(c2s);
    f->dir_obj[1] = Py_NewRef(s2c);
    f->retain = retain;
    f->retain_trim = retain_trim;
    f->idle_timeout = idle;
    f->linger = linger;
    f->free_head = f->lru_head = f->lru_tail = -1;
    return 0;
}

static void FastFlows_dealloc(FastFlows *f)
{
    for (int i = 0; i < f->flows_cap; i++) {
        Flow *fl = &f->flows[i];
        if (fl->state != FLOW_FREE) {
            Py_XDECREF(fl->conn);
            Py_XDECREF(fl->conn_id);
            recent_clear(&fl->dir[0]);
            recent_clear(&fl->dir[1]);
            record_clear(fl);
        }
    }
    PyMem_Free(f->flows);
    PyMem_Free(f->live.slots);
    PyMem_Free(f->dead.slots);
    Py_XDECREF(f->data_type);
    Py_XDECREF(f->chunks_type);
    Py_XDECREF(f->dir_obj[0]);
    Py_XDECREF(f->dir_obj[1]);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static PyMethodDef FastFlows_methods[] = {
    {"add", (PyCFunction)FastFlows_add, METH_VARARGS,
     "add(conn, conn_id, ignored, client_ip, client_port, server_ip, server_port, c2s_nxt, c2s_nxt_seq, "
     "c2s_recent, c2s_fin_done, s2c_nxt, s2c_nxt_seq, s2c_recent, s2c_fin_done, last_ts, last_frame, "
     "recording=False) -> handle"},
    {"record", (PyCFunction)FastFlows_record, METH_O,
     "record(handle): keep the flow's deliveries for StreamChunks from now on, instead of a StreamData each"},
    {"pull", (PyCFunction)FastFlows_pull, METH_VARARGS,
     "pull(handle, closing=False) -> state tuple, the recent-bytes windows written unless closing; the flow is "
     "forgotten unless it closed here (its tenth item: kept as a tomb); the eleventh: its recorded deliveries "
     "not handed out yet (a StreamChunks) or None"},
    {"drop_tomb", (PyCFunction)FastFlows_drop_tomb, METH_O, "drop_tomb(handle): forget a closed flow's tomb"},
    {"ignore", (PyCFunction)FastFlows_ignore, METH_O, "ignore(handle): only count the flow's packets from now on"},
    {"counters", (PyCFunction)FastFlows_counters, METH_NOARGS,
     "counters() -> (segments, bytes_delivered, ignored_packets, late_packets) since the last call"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef FastFlows_getset[] = {
    {"handled", (getter)FastFlows_get_handled, NULL, "segments handled in C since creation", NULL},
    {"fast", (getter)FastFlows_get_fast, NULL, "flows handled in C now (the others are frozen)", NULL},
    {"tombs", (getter)FastFlows_get_tombs, NULL, "closed flows kept as tombs (see drop_tomb)", NULL},
    {"tombs_enabled", (getter)FastFlows_get_tombs_enabled, (setter)FastFlows_set_tombs_enabled,
     "whether the next cut makes and uses tombs (late packets of connections it closed)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods FastFlows_as_sequence = {.sq_length = (lenfunc)FastFlows_len};

static PyTypeObject FastFlowsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "smtpsniff._native.fastpath.FastFlows",
    .tp_basicsize = sizeof(FastFlows),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "FastFlows(data_type, c2s, s2c, retain, retain_trim, idle_timeout_ns, closed_linger_ns=0, "
              "chunks_type=None, record_parts=256, record_bytes=262144): "
              "established TCP connections whose common segments the Cutter handles "
              "(see smtpsniff/reassembly/table.py)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)FastFlows_init,
    .tp_dealloc = (destructor)FastFlows_dealloc,
    .tp_methods = FastFlows_methods,
    .tp_getset = FastFlows_getset,
    .tp_as_sequence = &FastFlows_as_sequence,
};

/* cut(buf, off, number[, flows, until_expire, expire_every, max_records])
 *     -> (items, ts_bytes, counts, n, off, number, last_ts, need, too_large, sweeps)
 *
 * Mirrors smtpsniff/capture/pcap.py's record loop: stops at the end of the buffer (need = bytes the
 * next record needs) or at a record larger than max_record_bytes (too_large = its length).
 *
 * With a FastFlows, segments of its flows are handled there (see FastFlows above); the idle sweep
 * falls before record index until_expire - 1 and every expire_every records after it, and `sweeps`
 * lists (record index, [connections frozen as idle there]).  A record left to Python as a Frame
 * ends the call (need = 0: call again on the rest), since the segment Python decodes from it may
 * belong to a flow handled here, or to a tomb; so does the max_records-th record, so that connections Python
 * hands over start being handled here soon. */
static PyObject *Cutter_call(Cutter *self, PyObject *args, PyObject *kwargs)
{
    Py_buffer view;
    Py_ssize_t off;
    long number;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "cut() takes no keyword arguments");
        return NULL;
    }
    PyObject *flows_arg = Py_None;
    Py_ssize_t until_expire = 1, expire_every = 1, max_records = PY_SSIZE_T_MAX;
    if (!PyArg_ParseTuple(args, "y*nl|Onnn", &view, &off, &number, &flows_arg, &until_expire, &expire_every,
                          &max_records))
        return NULL;
    FastFlows *flows = NULL;
    if (flows_arg != Py_None) {
        if (!Py_IS_TYPE(flows_arg, &FastFlowsType) || until_expire < 1 || expire_every < 1 || max_records < 1) {
            PyBuffer_Release(&view);
            PyErr_SetString(PyExc_TypeError,
                            "flows must be a FastFlows; until_expire, expire_every and max_records >= 1");
            return NULL;
        }
        flows = (FastFlows *)flows_arg;
        flows->swept = 0; /* the reassembler ran the sweeps of earlier cuts before this one */
    }
    Py_ssize_t next_sweep = until_expire - 1;
    PyObject *sweeps = NULL;
    const unsigned char *buf = view.buf;
    Py_ssize_t end = view.len;
    Py_ssize_t head_len = self->modified ? 24 : 16;
    int big = self->big_endian;
    long long counts[C_COUNT] = {0};
    long long last_ts = 0;
    unsigned long long too_large = 0;
    Py_ssize_t need = head_len;
    Py_ssize_t n = 0;
    PyObject *items = PyList_New(0);
    sweeps = PyList_New(0);
    PyObject *ts_bytes = NULL;
    PyObject *counts_obj = NULL;
    Py_ssize_t ts_cap = 0;
    int64_t *ts_out = NULL;
    if (items == NULL || sweeps == NULL)
        goto fail;
    if (off < 0 || off > end) {
        PyErr_SetString(PyExc_ValueError, "offset outside the buffer");
        goto fail;
    }
    /* at most one record per head_len bytes: room for every timestamp */
    ts_cap = (end - off) / head_len + 1;
    ts_out = PyMem_Malloc((size_t)ts_cap * sizeof(int64_t));
    if (ts_out == NULL) {
        PyErr_NoMemory();
        goto fail;
    }
    while (off + head_len <= end) {
        const unsigned char *rec = buf + off;
        uint32_t sec = rd32(rec, big), frac = rd32(rec + 4, big);
        uint32_t incl = rd32(rec + 8, big), orig = rd32(rec + 12, big);
        if ((unsigned long long)incl > self->max_record_bytes) {
            too_large = incl;
            break;
        }
        Py_ssize_t start = off + head_len;
        if ((unsigned long long)start + incl > (unsigned long long)end) {
            need = head_len + (Py_ssize_t)incl;
            break;
        }
        Py_ssize_t stop = start + (Py_ssize_t)incl;
        number++;
        long long ts = (long long)sec * 1000000000LL + (long long)frac * self->frac_ns;
        const unsigned char *d = buf + start;
        if (flows != NULL && n == next_sweep) {
            if (!flows->swept || ts > flows->swept_ts) {
                flows->swept_ts = ts;
                flows->swept = 1;
            }
            if (flows->fast && sweep(flows, ts, n, sweeps) < 0)
                goto fail;
            next_sweep += expire_every;
        }
        Decoded r;
        int outcome = decode(self->linktype, d, (Py_ssize_t)incl, (long long)orig, &r);
        PyObject *item = NULL;
        int handled = 0;
        if (outcome == R_SEGMENT && flows != NULL && (flows->fast || flows->tombs)) {
            handled = fast_segment(flows, d, &r, number, ts, &item);
            if (handled < 0)
                goto fail;
            if (handled)
                counts[C_TCP]++; /* decided here like any segment (never truncated: those go to Python) */
        }
        if (handled) {
        } else if (outcome == R_SEGMENT) {
            PyObject *ts_obj = PyLong_FromLongLong(ts);
            if (ts_obj == NULL)
                goto fail;
            item = build_segment(self, d, &r, number, ts_obj, counts);
            Py_DECREF(ts_obj);
            if (item == NULL)
                goto fail;
        } else if (outcome == R_PYTHON) {
            PyObject *fields[6] = {
                PyLong_FromLong(number),
                PyLong_FromLongLong(ts),
                Py_NewRef(self->linktype_obj),
                PyBytes_FromStringAndSize((const char *)d, (Py_ssize_t)incl),
                PyLong_FromUnsignedLong(orig),
                PyLong_FromLong(0),
            };
            item = new_tuple_of(self->frame_type, fields, 6);
            if (item == NULL)
                goto fail;
        } else {
            item = outcome == R_NON_IP ? self->skip_non_ip
                 : outcome == R_NON_TCP ? self->skip_non_tcp : self->skip_truncated;
            Py_INCREF(item);
            counts[outcome == R_NON_IP ? C_NON_IP : outcome == R_NON_TCP ? C_NON_TCP : C_TRUNCATED]++;
        }
        if (outcome != R_PYTHON) {
            counts[C_FRAMES]++;
            counts[C_IPV4] += r.ipv4;
            counts[C_IPV6] += r.ipv6;
            counts[C_FRAGMENTS] += r.fragment;
        }
        if (PyList_Append(items, item) < 0) {
            Py_DECREF(item);
            goto fail;
        }
        Py_DECREF(item);
        ts_out[n++] = ts;
        last_ts = ts;
        off = stop;
        if (flows != NULL && ((outcome == R_PYTHON && (flows->fast || flows->tombs)) || n >= max_records)) {
            need = 0;
            break;
        }
    }
    ts_bytes = PyBytes_FromStringAndSize((const char *)ts_out, n * (Py_ssize_t)sizeof(int64_t));
    if (ts_bytes == NULL)
        goto fail;
    counts_obj = PyTuple_New(C_COUNT);
    if (counts_obj == NULL)
        goto fail;
    for (int i = 0; i < C_COUNT; i++) {
        PyObject *v = PyLong_FromLongLong(counts[i]);
        if (v == NULL)
            goto fail;
        PyTuple_SET_ITEM(counts_obj, i, v);
    }
    PyMem_Free(ts_out);
    PyBuffer_Release(&view);
    PyObject *last = n ? PyLong_FromLongLong(last_ts) : Py_NewRef(Py_None);
    return Py_BuildValue("(NNNnnlNnKN)", items, ts_bytes, counts_obj, n, off, number, last, need, too_large, sweeps);
fail:
    Py_XDECREF(items);
    Py_XDECREF(sweeps);
    Py_XDECREF(ts_bytes);
    Py_XDECREF(counts_obj);
    PyMem_Free(ts_out);
    PyBuffer_Release(&view);
    return NULL;
}

static int Cutter_init(Cutter *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {
        "segment_type", "frame_type", "skip_non_ip", "skip_non_tcp", "skip_truncated",
        "big_endian", "nanosecond", "modified", "linktype", "max_record_bytes", NULL,
    };
    PyObject *seg, *frame, *non_ip, *non_tcp, *trunc;
    int big, nano, modified, linktype;
    unsigned long long max_bytes;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!OOOpppiK", kwlist, &PyType_Type, &seg, &PyType_Type,
                                     &frame, &non_ip, &non_tcp, &trunc, &big, &nano, &modified, &linktype,
                                     &max_bytes))
        return -1;
    if (!PyType_IsSubtype((PyTypeObject *)seg, &PyTuple_Type) ||
        !PyType_IsSubtype((PyTypeObject *)frame, &PyTuple_Type)) {
        PyErr_SetString(PyExc_TypeError, "segment_type and frame_type must be tuple subclasses");
        return -1;
    }
    Py_XSETREF(self->segment_type, (PyTypeObject *)Py_NewRef(seg));
    Py_XSETREF(self->frame_type, (PyTypeObject *)Py_NewRef(frame));
    Py_XSETREF(self->skip_non_ip, Py_NewRef(non_ip));
    Py_XSETREF(self->skip_non_tcp, Py_NewRef(non_tcp));
    Py_XSETREF(self->skip_truncated, Py_NewRef(trunc));
    PyObject *lt = PyLong_FromLong(linktype);
    if (lt == NULL)
        return -1;
    Py_XSETREF(self->linktype_obj, lt);
    self->big_endian = big;
    self->modified = modified;
    self->frac_ns = nano ? 1 : 1000;
    self->linktype = linktype;
    self->max_record_bytes = max_bytes;
    if (self->memo == NULL) {
        self->memo = PyMem_Calloc(MEMO_SLOTS, sizeof(MemoSlot));
        if (self->memo == NULL) {
            PyErr_NoMemory();
            return -1;
        }
    }
    return 0;
}

static void Cutter_dealloc(Cutter *self)
{
    Py_XDECREF(self->segment_type);
    Py_XDECREF(self->frame_type);
    Py_XDECREF(self->skip_non_ip);
    Py_XDECREF(self->skip_non_tcp);
    Py_XDECREF(self->skip_truncated);
    Py_XDECREF(self->linktype_obj);
    if (self->memo != NULL) {
        for (int i = 0; i < MEMO_SLOTS; i++)
            Py_XDECREF(self->memo[i].text);
        PyMem_Free(self->memo);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject CutterType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "smtpsniff._native.fastpath.Cutter",
    .tp_basicsize = sizeof(Cutter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Cutter(segment_type, frame_type, skip_non_ip, skip_non_tcp, skip_truncated, big_endian, "
              "nanosecond, modified, linktype, max_record_bytes): call with (buf, off, number) per chunk",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Cutter_init,
    .tp_dealloc = (destructor)Cutter_dealloc,
    .tp_call = (ternaryfunc)Cutter_call,
};

/* ---------------------------------------------------------------------------------------------------
 * Third part, the SMTP decoder's (smtpsniff/smtp/conversation.py): the well-formed command line and
 * the well-formed reply, parsed in C.  Each function looks at one item at a position of a chunk and
 * returns None for anything out of the ordinary (bare CR or LF, NUL, an incomplete or over-long
 * line, a non-ASCII verb, a MAIL or RCPT argument the Python grammar would report or rewrite, ...):
 * the Python path then reads the item, so every anomaly is still raised by the Python code, which
 * stays the oracle (tests/smtp/test_smtp_native*.py feed the same transcripts both ways).
 * ------------------------------------------------------------------------------------------------- */

static inline int is_blank(unsigned char c) { return c == ' ' || c == '\t'; }
static inline int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }
static inline int is_alnum(unsigned char c) { return is_digit(c) || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
static inline unsigned char ascii_upper(unsigned char c) { return (c >= 'a' && c <= 'z') ? (unsigned char)(c - 32) : c; }

/* Text of wire bytes as smtpsniff.smtp.grammar.wire_text gives it (UTF-8, surrogateescape).  Cutting
 * the bytes at ASCII octets first gives the same text as cutting the decoded text there: an ASCII
 * octet is never part of a multi-octet sequence and always decodes to itself. */
static PyObject *wire_text(const unsigned char *s, Py_ssize_t n)
{
    return PyUnicode_DecodeUTF8((const char *)s, n, "surrogateescape");
}

/* ASCII text upper-cased: str.upper() of it (the caller checked every octet is 0x21-0x7e). */
static PyObject *ascii_upper_text(const unsigned char *s, Py_ssize_t n)
{
    PyObject *t = PyUnicode_New(n, 127);
    if (t == NULL)
        return NULL;
    Py_UCS1 *out = PyUnicode_1BYTE_DATA(t);
    for (Py_ssize_t i = 0; i < n; i++)
        out[i] = ascii_upper(s[i]);
    return t;
}

/* The one str per known verb (smtpsniff.smtp.grammar.KNOWN_VERBS, the most frequent first) and per
 * enhanced status code class "." subject "." detail with a one-digit subject and a detail below 100
 * written without leading zero (grammar.SHARED_TEXT's codes): interned at module initialisation, so
 * they are the very objects grammar.SHARED_TEXT holds, and never changed nor released after it.
 * smtp_command and smtp_reply hand out a new reference to one of them instead of a new equal str. */
static const char *const SHARED_VERB_NAMES[] = {
    "RCPT", "MAIL", "DATA", "EHLO", "QUIT", "RSET", "HELO", "AUTH", "STARTTLS", "NOOP", "BDAT", "LHLO",
    "VRFY", "EXPN", "HELP", "SEND", "SOML", "SAML", "TURN", "ETRN", "ATRN", "BURL", "XCLIENT", "XFORWARD",
    "VERB", "ONEX", "XUSR", "XEXCH50", "X-EXPS", "X-LINK2STATE", "X-ANONYMOUSTLS", "SIZE",
};
#define SHARED_VERBS ((int)(sizeof SHARED_VERB_NAMES / sizeof SHARED_VERB_NAMES[0]))
#define SHARED_VERB_LONGEST 14
static PyObject *shared_verbs[SHARED_VERBS];
static PyObject *shared_codes[3][10][100]; /* class 2, 4, 5; subject; detail */

/* Fill the tables' empty entries: 0, or -1 with an exception set (the module then fails to import;
 * an entry filled before stays and is not made again). */
static int shared_text_init(void)
{
    for (int i = 0; i < SHARED_VERBS; i++)
        if (shared_verbs[i] == NULL && (shared_verbs[i] = PyUnicode_InternFromString(SHARED_VERB_NAMES[i])) == NULL)
            return -1;
    static const char classes[3] = {'2', '4', '5'};
    for (int c = 0; c < 3; c++)
        for (int s = 0; s < 10; s++)
            for (int d = 0; d < 100; d++) {
                char text[8]; /* at most "5.9.99" */
                if (shared_codes[c][s][d] != NULL)
                    continue;
                snprintf(text, sizeof text, "%c.%d.%d", classes[c], s, d);
                if ((shared_codes[c][s][d] = PyUnicode_InternFromString(text)) == NULL)
                    return -1;
            }
    return 0;
}

/* A new reference to the shared str of the verb s[:n] upper-cased, or NULL (no error set) when it is
 * no known verb.  Every octet of s is 0x21-0x7e (the caller checked). */
static PyObject *shared_verb(const unsigned char *s, Py_ssize_t n)
{
    if (n < 4 || n > SHARED_VERB_LONGEST)
        return NULL;
    char up[SHARED_VERB_LONGEST];
    for (Py_ssize_t i = 0; i < n; i++)
        up[i] = (char)ascii_upper(s[i]);
    for (int k = 0; k < SHARED_VERBS; k++) {
        PyObject *v = shared_verbs[k];
        if (v != NULL && PyUnicode_GET_LENGTH(v) == n && memcmp(PyUnicode_1BYTE_DATA(v), up, (size_t)n) == 0)
            return Py_NewRef(v);
    }
    return NULL;
}

/* A new reference to the shared str of the enhanced code e[:n] (class "." 1*3digit "." 1*3digit,
 * the caller checked), or NULL (no error set) when it has none. */
static PyObject *shared_code(const unsigned char *e, Py_ssize_t n)
{
    int c = e[0] == '2' ? 0 : e[0] == '4' ? 1 : e[0] == '5' ? 2 : -1;
    if (c < 0 || n < 5 || n > 6 || !is_digit(e[2]) || e[3] != '.' || !is_digit(e[4]))
        return NULL;
    int d = e[4] - '0';
    if (n == 6) {
        if (d == 0 || !is_digit(e[5]))
            return NULL; /* a leading zero: "2.1.05" is no "2.1.5" */
        d = d * 10 + (e[5] - '0');
    }
    PyObject *v = shared_codes[c][e[2] - '0'][d];
    return v == NULL ? NULL : Py_NewRef(v);
}

static int eq_nocase(const unsigned char *s, Py_ssize_t n, const char *word)
{
    Py_ssize_t k = (Py_ssize_t)strlen(word);
    if (n != k)
        return 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (ascii_upper(s[i]) != (unsigned char)word[i])
            return 0;
    return 1;
}

/* grammar._check_value for one parameter: 1 when it raises no problem, 0 when it would (the caller
 * then leaves the line to Python).  v is NULL when the parameter has no "=". */
static int param_value_ok(const unsigned char *k, Py_ssize_t kn, const unsigned char *v, Py_ssize_t vn)
{
    if (eq_nocase(k, kn, "NOTIFY")) { /* RFC 3461 4.1: NEVER, or SUCCESS/FAILURE/DELAY joined by "," */
        if (v == NULL)
            return 0;
        Py_ssize_t parts = 0, never = 0, start = 0;
        for (Py_ssize_t i = 0; i <= vn; i++) {
            if (i < vn && v[i] != ',')
                continue;
            const unsigned char *p = v + start;
            Py_ssize_t pn = i - start;
            parts++;
            if (eq_nocase(p, pn, "NEVER"))
                never++;
            else if (!eq_nocase(p, pn, "SUCCESS") && !eq_nocase(p, pn, "FAILURE") && !eq_nocase(p, pn, "DELAY"))
                return 0;
            start = i + 1;
        }
        return never == 0 || (never == 1 && parts == 1);
    }
    if (eq_nocase(k, kn, "SIZE")) { /* RFC 1870 6: 1*20DIGIT */
        if (v == NULL || vn < 1 || vn > 20)
            return 0;
        for (Py_ssize_t i = 0; i < vn; i++)
            if (!is_digit(v[i]))
                return 0;
        return 1;
    }
    if (eq_nocase(k, kn, "BODY"))
        return v != NULL && (eq_nocase(v, vn, "7BIT") || eq_nocase(v, vn, "8BITMIME") || eq_nocase(v, vn, "BINARYMIME"));
    if (eq_nocase(k, kn, "RET"))
        return v != NULL && (eq_nocase(v, vn, "FULL") || eq_nocase(v, vn, "HDRS"));
    if (eq_nocase(k, kn, "SMTPUTF8"))
        return v == NULL;
    return 1;
}

/* grammar.parse_params + xtext_values for the parameters of MAIL/RCPT, when they raise no problem and
 * no xtext value holds an escape: fills params and decoded, returns 1; 0 to leave it to Python,
 * -1 on error.  Only SP, HTAB and 0x21-0x7e are taken, so str.split() splits where this does. */
static int mail_params(const unsigned char *s, Py_ssize_t n, PyObject *params, PyObject *decoded)
{
    Py_ssize_t i = 0;
    while (i < n) {
        while (i < n && is_blank(s[i]))
            i++;
        if (i >= n)
            break;
        Py_ssize_t ks = i;
        /* esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
        if (!is_alnum(s[i]))
            return 0;
        while (i < n && (is_alnum(s[i]) || s[i] == '-'))
            i++;
        Py_ssize_t ke = i;
        const unsigned char *v = NULL;
        Py_ssize_t vn = 0;
        if (i < n && s[i] == '=') {
            i++;
            v = s + i;
            while (i < n && !is_blank(s[i])) {
                if (s[i] < 0x21 || s[i] > 0x7e || s[i] == '=')
                    return 0; /* not an esmtp-value (or not ASCII printable: left to Python) */
                i++;
            }
            vn = (s + i) - v;
        }
        else if (i < n && !is_blank(s[i]))
            return 0; /* the token goes on with a character a keyword cannot hold */
        if (!param_value_ok(s + ks, ke - ks, v, vn))
            return 0;
        PyObject *key = ascii_upper_text(s + ks, ke - ks);
        if (key == NULL)
            return -1;
        int dup = PyDict_Contains(params, key);
        if (dup != 0) {
            Py_DECREF(key);
            return dup < 0 ? -1 : 0; /* duplicate_esmtp_param: Python reports it */
        }
        PyObject *value;
        if (v == NULL) {
            value = Py_None;
            Py_INCREF(value);
        }
        else {
            value = PyUnicode_DecodeASCII((const char *)v, vn, "strict");
            if (value == NULL) {
                Py_DECREF(key);
                return -1;
            }
        }
        int rc = PyDict_SetItem(params, key, value);
        if (rc == 0 && v != NULL
            && (eq_nocase(s + ks, ke - ks, "ENVID") || eq_nocase(s + ks, ke - ks, "ORCPT")
                || eq_nocase(s + ks, ke - ks, "AUTH"))) {
            /* grammar.XTEXT_PARAMS: decoded as sent unless it holds an escape ("+XX", "\x{...}") */
            if (memchr(v, '+', (size_t)vn) != NULL || memchr(v, '\\', (size_t)vn) != NULL)
                rc = 1;
            else
                rc = PyDict_SetItem(decoded, key, value);
        }
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc != 0)
            return rc < 0 ? -1 : 0;
    }
    return 1;
}

/* grammar.MAIL_ARGUMENT / RCPT_ARGUMENT + strip_path + parse_params, for an argument they take without
 * an anomaly and without a rewrite: "FROM:" (or "TO:") [blanks] "<" path ">" [blanks params], the path
 * without DQUOTE and without a source route.  1 with *address, *address_raw set; 0: left to Python. */
static int mail_argument(const unsigned char *a, Py_ssize_t n, const char *head, PyObject **address,
                         PyObject **address_raw, PyObject *params, PyObject *decoded)
{
    Py_ssize_t hn = (Py_ssize_t)strlen(head);
    if (n < hn || !eq_nocase(a, hn, head))
        return 0;
    Py_ssize_t i = hn;
    while (i < n && is_blank(a[i]))
        i++;
    if (i >= n || a[i] != '<')
        return 0;
    Py_ssize_t ps = i;
    const unsigned char *gt = memchr(a + ps, '>', (size_t)(n - ps));
    if (gt == NULL)
        return 0;
    Py_ssize_t pe = (gt - a) + 1; /* after ">" */
    if (memchr(a + ps, '"', (size_t)(pe - ps)) != NULL)
        return 0; /* a quoted local part: the Python pattern decides where the path ends */
    if (pe - ps > 2 && a[ps + 1] == '@')
        return 0; /* a source route (RFC 5321 4.1.2): strip_path removes it */
    Py_ssize_t qs = pe;
    if (pe < n) {
        if (!is_blank(a[pe]))
            return 0; /* invalid_path_argument */
        while (qs < n && is_blank(a[qs]))
            qs++;
    }
    int rc = mail_params(a + qs, n - qs, params, decoded);
    if (rc != 1)
        return rc;
    *address_raw = wire_text(a + ps, pe - ps);
    if (*address_raw == NULL)
        return -1;
    *address = wire_text(a + ps + 1, pe - ps - 2);
    if (*address == NULL) {
        Py_CLEAR(*address_raw);
        return -1;
    }
    return 1;
}

static int arg_ssize(PyObject *o, Py_ssize_t *out)
{
    *out = PyLong_AsSsize_t(o);
    return (*out == -1 && PyErr_Occurred()) ? -1 : 0;
}

/* The arguments (data: bytes, a, b, c) of smtp_command and smtp_reply: 0, or -1 with TypeError
 * (`usage`) or the integer conversion's error set. */
static int bytes_and_three_sizes(PyObject *const *args, Py_ssize_t nargs, const char *usage,
                                 Py_ssize_t *a, Py_ssize_t *b, Py_ssize_t *c)
{
    if (nargs != 4 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, usage);
        return -1;
    }
    if (arg_ssize(args[1], a) < 0 || arg_ssize(args[2], b) < 0 || arg_ssize(args[3], c) < 0)
        return -1;
    return 0;
}

/* data[pos:end] as a new reference: data itself when that is all of it (bytes are immutable: the
 * line or reply that fills a whole chunk -- the usual one -- shares it instead of copying it). */
static PyObject *bytes_span(PyObject *data, Py_ssize_t pos, Py_ssize_t end)
{
    if (pos == 0 && end == PyBytes_GET_SIZE(data) && PyBytes_CheckExact(data))
        return Py_NewRef(data);
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(data) + pos, end - pos);
}

PyDoc_STRVAR(smtp_command_doc,
"smtp_command(data, pos, room, max_line) -> (end, raw, verb, argument, address, address_raw, params,\n"
"params_decoded) | None\n\n"
"The command line at data[pos:] when it is complete (LF within room octets), CRLF-terminated, at most\n"
"max_line octets, free of other CR and of NUL, its verb ASCII and neither XCLIENT nor XFORWARD,\n"
"and -- for MAIL and RCPT -- its argument a plain path with valid parameters; else None.");

static PyObject *smtp_command(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t pos, room, max_line;
    if (bytes_and_three_sizes(args, nargs, "smtp_command(data: bytes, pos, room, max_line)",
                              &pos, &room, &max_line) < 0)
        return NULL;
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    if (pos < 0 || pos >= n || room <= 0)
        Py_RETURN_NONE;
    Py_ssize_t stop = room < n - pos ? pos + room : n;
    const unsigned char *lf = memchr(d + pos, '\n', (size_t)(stop - pos));
    if (lf == NULL)
        Py_RETURN_NONE;
    Py_ssize_t nl = lf - d, end = nl + 1;
    if (end - pos > max_line || nl - pos < 1 || d[nl - 1] != '\r')
        Py_RETURN_NONE;
    Py_ssize_t ce = nl - 1; /* content: [pos, ce) */
    for (Py_ssize_t i = pos; i < ce; i++)
        if (d[i] == '\r' || d[i] == 0)
            Py_RETURN_NONE;
    /* grammar.COMMAND_LINE: [blanks] verb [blanks argument] [blanks] */
    Py_ssize_t i = pos;
    while (i < ce && is_blank(d[i]))
        i++;
    Py_ssize_t vs = i;
    while (i < ce && !is_blank(d[i])) {
        if (d[i] < 0x21 || d[i] > 0x7e)
            Py_RETURN_NONE;
        i++;
    }
    Py_ssize_t vn = i - vs;
    if (vn == 0)
        Py_RETURN_NONE; /* empty_command_line */
    const unsigned char *v = d + vs;
    if (eq_nocase(v, vn, "XCLIENT") || eq_nocase(v, vn, "XFORWARD"))
        Py_RETURN_NONE; /* their arguments are all xtext parameters: left to Python */
    while (i < ce && is_blank(d[i]))
        i++;
    Py_ssize_t as = i, ae = ce;
    while (ae > as && is_blank(d[ae - 1]))
        ae--;

    PyObject *params = PyDict_New(), *decoded = PyDict_New();
    PyObject *address = NULL, *address_raw = NULL;
    if (params == NULL || decoded == NULL)
        goto fail;
    int mail = eq_nocase(v, vn, "MAIL");
    if (mail || eq_nocase(v, vn, "RCPT")) {
        int rc = mail_argument(d + as, ae - as, mail ? "FROM:" : "TO:", &address, &address_raw, params, decoded);
        if (rc < 0)
            goto fail;
        if (rc == 0) {
            Py_DECREF(params);
            Py_DECREF(decoded);
            Py_RETURN_NONE;
        }
    }
    else {
        address = Py_None;
        address_raw = Py_None;
        Py_INCREF(address);
        Py_INCREF(address_raw);
    }
    PyObject *verb = shared_verb(v, vn);
    if (verb == NULL)
        verb = ascii_upper_text(v, vn);
    PyObject *arg = verb == NULL ? NULL : wire_text(d + as, ae - as);
    PyObject *raw = arg == NULL ? NULL : bytes_span(args[0], pos, end);
    PyObject *endo = raw == NULL ? NULL : PyLong_FromSsize_t(end);
    if (endo == NULL) {
        Py_XDECREF(verb);
        Py_XDECREF(arg);
        Py_XDECREF(raw);
        goto fail;
    }
    PyObject *t = PyTuple_New(8);
    if (t == NULL) {
        Py_DECREF(verb);
        Py_DECREF(arg);
        Py_DECREF(raw);
        Py_DECREF(endo);
        goto fail;
    }
    PyTuple_SET_ITEM(t, 0, endo);
    PyTuple_SET_ITEM(t, 1, raw);
    PyTuple_SET_ITEM(t, 2, verb);
    PyTuple_SET_ITEM(t, 3, arg);
    PyTuple_SET_ITEM(t, 4, address);
    PyTuple_SET_ITEM(t, 5, address_raw);
    PyTuple_SET_ITEM(t, 6, params);
    PyTuple_SET_ITEM(t, 7, decoded);
    return t;
fail:
    Py_XDECREF(params);
    Py_XDECREF(decoded);
    Py_XDECREF(address);
    Py_XDECREF(address_raw);
    return NULL;
}

PyDoc_STRVAR(smtp_reply_doc,
"smtp_reply(data, pos, longest, max_lines) -> (end, code, lines, text, raw, enhanced_code,\n"
"class_mismatch) | None\n\n"
"The whole reply at data[pos:] when grammar.PLAIN_REPLY matches there (one code in 200-559 on every\n"
"line, \"-\" on all but the last, CRLF after each, no other CR, LF or NUL), no line is longer than\n"
"longest octets before its CRLF and it has at most max_lines lines; else None.  enhanced_code is\n"
"grammar.ENHANCED_CODE on the first line, class_mismatch whether its class differs from the reply code's.");

static PyObject *smtp_reply(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t pos, longest, max_lines;
    if (bytes_and_three_sizes(args, nargs, "smtp_reply(data: bytes, pos, longest, max_lines)",
                              &pos, &longest, &max_lines) < 0)
        return NULL;
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    if (pos < 0 || n - pos < 5)
        Py_RETURN_NONE;
    const unsigned char *code = d + pos;
    if (code[0] < '2' || code[0] > '5' || code[1] < '0' || code[1] > '5' || !is_digit(code[2]))
        Py_RETURN_NONE;
    /* Pass 1: where the reply ends and how many lines it has. */
    Py_ssize_t p = pos, count = 0, end = -1;
    while (end < 0) {
        /* d[p .. p+3) is the code; what follows decides */
        Py_ssize_t q = p + 3;
        if (q >= n)
            Py_RETURN_NONE;
        Py_ssize_t cr;
        if (d[q] == '\r')
            cr = q;
        else if (d[q] == '-' || d[q] == ' ') {
            cr = q + 1;
            while (cr < n && d[cr] != '\r' && d[cr] != '\n' && d[cr] != 0)
                cr++;
            if (cr >= n || d[cr] != '\r')
                Py_RETURN_NONE;
        }
        else
            Py_RETURN_NONE;
        if (cr + 1 >= n || d[cr + 1] != '\n')
            Py_RETURN_NONE;
        if (cr - p > longest)
            Py_RETURN_NONE;
        if (++count > max_lines)
            Py_RETURN_NONE;
        if (d[q] != '-') {
            end = cr + 2;
            break;
        }
        p = cr + 2;
        if (n - p < 3 || memcmp(d + p, code, 3) != 0)
            Py_RETURN_NONE; /* the next line must carry the same code */
    }
    /* Pass 2: the objects. */
    PyObject *lines = PyTuple_New(count);
    if (lines == NULL)
        return NULL;
    p = pos;
    for (Py_ssize_t k = 0; k < count; k++) {
        Py_ssize_t q = p + 3, cr = q;
        while (d[cr] != '\r')
            cr++;
        Py_ssize_t ts = q < cr ? q + 1 : cr;
        PyObject *line = wire_text(d + ts, cr - ts);
        if (line == NULL) {
            Py_DECREF(lines);
            return NULL;
        }
        PyTuple_SET_ITEM(lines, k, line);
        p = cr + 2;
    }
    /* grammar.ENHANCED_CODE on the first line: class "." 1*3digit "." 1*3digit, then SP / HTAB / end */
    PyObject *enhanced = Py_None;
    int mismatch = 0;
    {
        Py_ssize_t ts = pos + 4, cr = pos + 3;
        while (d[cr] != '\r')
            cr++;
        if (ts <= cr) {
            const unsigned char *e = d + ts;
            Py_ssize_t en = cr - ts, j = 0, r;
            if (en >= 5 && (e[0] == '2' || e[0] == '4' || e[0] == '5') && e[1] == '.') {
                j = 2;
                for (r = 0; j < en && is_digit(e[j]); j++)
                    r++;
                if (r >= 1 && r <= 3 && j < en && e[j] == '.') {
                    j++;
                    for (r = 0; j < en && is_digit(e[j]); j++)
                        r++;
                    if (r >= 1 && r <= 3 && (j == en || is_blank(e[j]))) {
                        enhanced = shared_code(e, j);
                        if (enhanced == NULL)
                            enhanced = PyUnicode_DecodeASCII((const char *)e, j, "strict");
                        if (enhanced == NULL) {
                            Py_DECREF(lines);
                            return NULL;
                        }
                        mismatch = e[0] != code[0];
                    }
                }
            }
        }
        if (enhanced == Py_None)
            Py_INCREF(enhanced);
    }
    PyObject *text = NULL, *raw = NULL, *endo = NULL, *codeo = NULL, *nl = NULL;
    if (count == 1) {
        text = PyTuple_GET_ITEM(lines, 0);
        Py_INCREF(text);
    }
    else if ((nl = PyUnicode_FromStringAndSize("\n", 1)) != NULL) {
        text = PyUnicode_Join(nl, lines);
        Py_DECREF(nl);
    }
    if (text != NULL)
        raw = bytes_span(args[0], pos, end);
    if (raw != NULL)
        endo = PyLong_FromSsize_t(end);
    if (endo != NULL)
        codeo = PyLong_FromLong((code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0'));
    PyObject *t = codeo == NULL ? NULL : PyTuple_New(7);
    if (t == NULL) {
        Py_DECREF(lines);
        Py_DECREF(enhanced);
        Py_XDECREF(text);
        Py_XDECREF(raw);
        Py_XDECREF(endo);
        Py_XDECREF(codeo);
        return NULL;
    }
    PyObject *flag = mismatch ? Py_True : Py_False;
    Py_INCREF(flag);
    PyTuple_SET_ITEM(t, 0, endo);
    PyTuple_SET_ITEM(t, 1, codeo);
    PyTuple_SET_ITEM(t, 2, lines);
    PyTuple_SET_ITEM(t, 3, text);
    PyTuple_SET_ITEM(t, 4, raw);
    PyTuple_SET_ITEM(t, 5, enhanced);
    PyTuple_SET_ITEM(t, 6, flag);
    return t;
}

PyDoc_STRVAR(smtp_content_doc,
"smtp_content(data, pos, longest, dot, content, max_bytes) -> (end, size, ended)\n\n"
"Message content lines at data[pos:], taken while each is complete, CRLF-terminated, at most longest\n"
"octets, free of other CR and of NUL: each line's octets (with dot true, RFC 5321 4.5.2: less a\n"
"leading dot) are appended to the bytearray content while it holds fewer than max_bytes octets.\n"
"With dot true the line \".\" CRLF ends the content (ended true, end after it).  end: the position\n"
"after what was taken (pos when the first line is none of these); size: the octets those lines\n"
"hold.  To be called at the start of a line with nothing buffered.");

static PyObject *smtp_content(PyObject *Py_UNUSED(mod), PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t pos, longest, max_bytes;
    if (nargs != 6 || !PyBytes_Check(args[0]) || !PyByteArray_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError, "smtp_content(data: bytes, pos, longest, dot, content: bytearray, max_bytes)");
        return NULL;
    }
    if (arg_ssize(args[1], &pos) < 0 || arg_ssize(args[2], &longest) < 0 || arg_ssize(args[5], &max_bytes) < 0)
        return NULL;
    int dot = PyObject_IsTrue(args[3]);
    if (dot < 0)
        return NULL;
    const unsigned char *d = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    PyObject *content = args[4];
    Py_ssize_t have = PyByteArray_GET_SIZE(content);
    Py_ssize_t room = max_bytes > have ? max_bytes - have : 0;
    Py_ssize_t p = pos < 0 ? n : pos, size = 0, kept = 0;
    int ended = 0;
    if (room > 0 && p < n) { /* room for every octet from p on, given back below */
        Py_ssize_t grow = n - p < room ? n - p : room;
        if (PyByteArray_Resize(content, have + grow) < 0)
            return NULL;
        room = grow;
    }
    else
        room = 0;
    unsigned char *out = room ? (unsigned char *)PyByteArray_AS_STRING(content) + have : NULL;
    while (p < n && longest > 0) {
        Py_ssize_t stop = longest < n - p ? p + longest : n;
        const unsigned char *lf = memchr(d + p, '\n', (size_t)(stop - p));
        if (lf == NULL)
            break; /* incomplete, or longer than longest */
        Py_ssize_t nl = lf - d;
        if (nl - p < 1 || d[nl - 1] != '\r')
            break; /* bare LF (or a lone LF) */
        int odd = 0;
        for (Py_ssize_t i = p; i < nl - 1; i++)
            if (d[i] == '\r' || d[i] == 0) {
                odd = 1;
                break;
            }
        if (odd)
            break;
        Py_ssize_t bs = p;
        if (dot && d[p] == '.') {
            if (nl - p == 2) { /* "." CRLF: the end of the content */
                p = nl + 1;
                ended = 1;
                break;
            }
            bs = p + 1;
        }
        Py_ssize_t blen = nl + 1 - bs;
        Py_ssize_t take = blen < room - kept ? blen : room - kept;
        if (take > 0) {
            memcpy(out + kept, d + bs, (size_t)take);
            kept += take;
        }
        size += blen;
        p = nl + 1;
    }
    if (room && kept < room && PyByteArray_Resize(content, have + kept) < 0)
        return NULL;
    if (pos < 0)
        p = pos;
    return Py_BuildValue("(nnO)", p, size, ended ? Py_True : Py_False);
}

/* Python's str.isspace() / str.split() whitespace, for an ASCII character. */
static inline int py_space(Py_UCS1 c) { return c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f); }

/* tuple(s[:n].split()) of ASCII text. */
static PyObject *ascii_words(const Py_UCS1 *s, Py_ssize_t n)
{
    Py_ssize_t count = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        if (!py_space(s[i]) && (i == 0 || py_space(s[i - 1])))
            count++;
    PyObject *t = PyTuple_New(count);
    if (t == NULL)
        return NULL;
    Py_ssize_t i = 0, k = 0;
    while (k < count) {
        while (i < n && py_space(s[i]))
            i++;
        Py_ssize_t ws = i;
        while (i < n && !py_space(s[i]))
            i++;
        PyObject *w = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, s + ws, i - ws);
        if (w == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SET_ITEM(t, k++, w);
    }
    return t;
}

/* The extensions whose presence a Capabilities event records, each a bool field of it (SIZE's is
 * size_announced). */
enum { EH_PIPELINING, EH_SIZE, EH_STARTTLS, EH_CHUNKING, EH_BINARYMIME, EH_8BITMIME, EH_SMTPUTF8, EH_DSN,
       EH_ENHANCEDSTATUSCODES, EH_REQUIRETLS, EH_COUNT };
/* smtpsniff/smtp/capabilities.py _SIZE_DIGITS_MOST: the longest SIZE number read (no int() conversion
 * of that many digits raises, whatever sys.set_int_max_str_digits says). */
#define SIZE_DIGITS_MOST 640
static const char *const ehlo_flag_names[EH_COUNT] = {
    "PIPELINING", "SIZE", "STARTTLS", "CHUNKING", "BINARYMIME", "8BITMIME", "SMTPUTF8", "DSN",
    "ENHANCEDSTATUSCODES", "REQUIRETLS",
};

PyDoc_STRVAR(smtp_ehlo_doc,
"smtp_ehlo(lines) -> (domain, greeting, items, pipelining, size, size_announced, starttls,\n"
"auth_mechanisms, chunking, binarymime, eightbitmime, smtputf8, dsn, enhancedstatuscodes, requiretls) | None\n\n"
"The fields of smtpsniff.smtp.events.Capabilities (after command_index, before ts_ns) for the text\n"
"lines of a 250 reply to EHLO, as smtpsniff.smtp.capabilities.parse_ehlo_lines and ParsedCapabilities\n"
"give them, when every line is ASCII and every line after the first is the plain ehlo-line\n"
"\"KEYWORD\" or \"KEYWORD SP params\" (keyword: alphanumerics and \"-\", not starting with \"-\");\n"
"else None.");

static PyObject *smtp_ehlo(PyObject *Py_UNUSED(mod), PyObject *lines)
{
    if (!PyTuple_Check(lines)) {
        PyErr_SetString(PyExc_TypeError, "smtp_ehlo(lines: tuple of str)");
        return NULL;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(lines);
    if (n < 1)
        Py_RETURN_NONE;
    /* Pass 1: decline anything parse_ehlo_lines reads with its pattern (or reports). */
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *o = PyTuple_GET_ITEM(lines, i);
        if (!PyUnicode_Check(o))
            Py_RETURN_NONE;
#if PY_VERSION_HEX < 0x030C0000 /* a str is always ready from 3.12 on */
        if (PyUnicode_READY(o) < 0)
            return NULL;
#endif
        if (!PyUnicode_IS_ASCII(o))
            Py_RETURN_NONE;
        if (i == 0)
            continue;
        const Py_UCS1 *s = PyUnicode_1BYTE_DATA(o);
        Py_ssize_t len = PyUnicode_GET_LENGTH(o), k = 0;
        int alnum = 0;
        while (k < len && s[k] != ' ') {
            if (is_alnum(s[k]))
                alnum = 1;
            else if (s[k] != '-')
                Py_RETURN_NONE;
            k++;
        }
        if (!alnum || s[0] == '-')
            Py_RETURN_NONE;
    }
    /* The first line: domain, _, greeting = first.strip().partition(" "); greeting.strip() */
    PyObject *first = PyTuple_GET_ITEM(lines, 0);
    const Py_UCS1 *f = PyUnicode_1BYTE_DATA(first);
    Py_ssize_t a = 0, b = PyUnicode_GET_LENGTH(first);
    while (a < b && py_space(f[a]))
        a++;
    while (b > a && py_space(f[b - 1]))
        b--;
    Py_ssize_t sp = a;
    while (sp < b && f[sp] != ' ')
        sp++;
    Py_ssize_t ga = sp < b ? sp + 1 : b, gb = b;
    while (ga < gb && py_space(f[ga]))
        ga++;
    while (gb > ga && py_space(f[gb - 1]))
        gb--;

    PyObject *result = NULL, *domain = NULL, *greeting = NULL, *items = NULL, *auth = NULL, *size = NULL;
    PyObject *auth_tuple = NULL;
    int flags[EH_COUNT] = {0};
    domain = PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, f + a, sp - a);
    greeting = domain == NULL ? NULL : PyUnicode_FromKindAndData(PyUnicode_1BYTE_KIND, f + ga, gb - ga);
    items = greeting == NULL ? NULL : PyTuple_New(n - 1);
    auth = items == NULL ? NULL : PyList_New(0);
    if (auth == NULL)
        goto done;
    for (Py_ssize_t i = 1; i < n; i++) {
        PyObject *o = PyTuple_GET_ITEM(lines, i);
        const Py_UCS1 *s = PyUnicode_1BYTE_DATA(o);
        Py_ssize_t len = PyUnicode_GET_LENGTH(o), k = 0;
        while (k < len && s[k] != ' ')
            k++;
        PyObject *keyword = ascii_upper_text(s, k);
        PyObject *params = keyword == NULL ? NULL : ascii_words(s + k, len - k); /* () without " " */
        PyObject *item = params == NULL ? NULL : PyTuple_Pack(2, keyword, params);
        Py_XDECREF(keyword);
        if (item == NULL) {
            Py_XDECREF(params);
            goto done;
        }
        PyTuple_SET_ITEM(items, i - 1, item);
        for (int e = 0; e < EH_COUNT; e++) {
            if (!eq_nocase(s, k, ehlo_flag_names[e]))
                continue;
            /* ParsedCapabilities.size: the first SIZE's first parameter, when all digits and at most
             * SIZE_DIGITS_MOST of them past its leading zeros; 0 is none */
            if (e == EH_SIZE && !flags[e] && PyTuple_GET_SIZE(params) > 0) {
                PyObject *p0 = PyTuple_GET_ITEM(params, 0);
                const Py_UCS1 *ds = PyUnicode_1BYTE_DATA(p0);
                Py_ssize_t dn = PyUnicode_GET_LENGTH(p0), j = 0, zeros = 0;
                while (zeros < dn && ds[zeros] == '0')
                    zeros++;
                j = zeros;
                while (j < dn && is_digit(ds[j]))
                    j++;
                if (j == dn && zeros < dn && dn - zeros <= SIZE_DIGITS_MOST) {
                    /* the digits past the zeros, NUL-terminated like every str's data */
                    size = PyLong_FromString((const char *)ds + zeros, NULL, 10);
                    if (size == NULL) {
                        Py_DECREF(params);
                        goto done;
                    }
                }
            }
            flags[e] = 1;
            break;
        }
        if (eq_nocase(s, k, "AUTH")) { /* ParsedCapabilities.auth_mechanisms: upper-cased, first of each */
            for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(params); j++) {
                PyObject *m = PyTuple_GET_ITEM(params, j);
                PyObject *up = ascii_upper_text(PyUnicode_1BYTE_DATA(m), PyUnicode_GET_LENGTH(m));
                int have = up == NULL ? -1 : PySequence_Contains(auth, up);
                if (have == 0)
                    have = PyList_Append(auth, up);
                Py_XDECREF(up);
                if (have < 0) {
                    Py_DECREF(params);
                    goto done;
                }
            }
        }
        Py_DECREF(params);
    }
    auth_tuple = PyList_AsTuple(auth);
    if (auth_tuple == NULL)
        goto done;
    if (size == NULL) {
        size = Py_None;
        Py_INCREF(size);
    }
    result = PyTuple_New(15);
    if (result == NULL)
        goto done;
    PyObject *values[15] = {
        domain, greeting, items, PyBool_FromLong(flags[EH_PIPELINING]), size, PyBool_FromLong(flags[EH_SIZE]),
        PyBool_FromLong(flags[EH_STARTTLS]), auth_tuple, PyBool_FromLong(flags[EH_CHUNKING]),
        PyBool_FromLong(flags[EH_BINARYMIME]), PyBool_FromLong(flags[EH_8BITMIME]),
        PyBool_FromLong(flags[EH_SMTPUTF8]), PyBool_FromLong(flags[EH_DSN]),
        PyBool_FromLong(flags[EH_ENHANCEDSTATUSCODES]), PyBool_FromLong(flags[EH_REQUIRETLS]),
    };
    for (int i = 0; i < 15; i++)
        PyTuple_SET_ITEM(result, i, values[i]); /* each a new reference (PyBool_FromLong cannot fail) */
    domain = greeting = items = auth_tuple = size = NULL; /* now owned by result */
done:
    Py_XDECREF(domain);
    Py_XDECREF(greeting);
    Py_XDECREF(items);
    Py_XDECREF(auth);
    Py_XDECREF(auth_tuple);
    Py_XDECREF(size);
    return result;
}

/* ---------------------------------------------------------------------------------------------------
 * Fourth part, for every layer (smtpsniff/fastinit.py): SlotBuilder(cls, names), a callable that builds
 * an instance of a slotted class by writing each named slot directly -- what fastinit's Python
 * builder does through the slots' member descriptors, without a Python frame and a descriptor call
 * per field.  Every name must be a writable object slot (T_OBJECT_EX) defined on cls itself; every
 * field must be given, by position in names order or by keyword, exactly once.
 * ------------------------------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyTypeObject *cls;
    PyObject *names; /* tuple of str */
    Py_ssize_t count;
    Py_ssize_t *offsets;
} SlotBuilder;

static PyObject *SlotBuilder_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    SlotBuilder *b = (SlotBuilder *)callable;
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    if (nargs > b->count || nargs + nkw != b->count) {
        PyErr_Format(PyExc_TypeError, "%s builder takes %zd fields (%zd positional, %zd by keyword given)",
                     b->cls->tp_name, b->count, nargs, nkw);
        return NULL;
    }
    PyObject *o = b->cls->tp_alloc(b->cls, 0);
    if (o == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        *(PyObject **)((char *)o + b->offsets[i]) = args[i];
    }
    Py_ssize_t next = nargs; /* where the next keyword's name most likely is: callers name fields in order */
    for (Py_ssize_t k = 0; k < nkw; k++) {
        PyObject *key = PyTuple_GET_ITEM(kwnames, k);
        Py_ssize_t j = next;
        if (j >= b->count || PyTuple_GET_ITEM(b->names, j) != key) {
            /* keyword names are interned: look for the same object first, then for an equal string */
            for (j = nargs; j < b->count && PyTuple_GET_ITEM(b->names, j) != key; j++)
                ;
            if (j == b->count) {
                for (j = nargs; j < b->count; j++) {
                    int eq = PyObject_RichCompareBool(PyTuple_GET_ITEM(b->names, j), key, Py_EQ);
                    if (eq < 0) {
                        Py_DECREF(o);
                        return NULL;
                    }
                    if (eq)
                        break;
                }
            }
        }
        next = j + 1;
        PyObject **slot = j < b->count ? (PyObject **)((char *)o + b->offsets[j]) : NULL;
        if (slot == NULL || *slot != NULL) {
            PyErr_Format(PyExc_TypeError, "%s builder: unexpected or repeated field %R", b->cls->tp_name, key);
            Py_DECREF(o); /* the slots set so far are released with it */
            return NULL;
        }
        Py_INCREF(args[nargs + k]);
        *slot = args[nargs + k];
    }
    return o;
}

static int SlotBuilder_init(SlotBuilder *b, PyObject *args, PyObject *kwargs)
{
    PyObject *cls, *names;
    static char *kwlist[] = {"cls", "names", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!:SlotBuilder", kwlist, &PyType_Type, &cls, &PyTuple_Type,
                                     &names))
        return -1;
    if (b->cls != NULL) {
        PyErr_SetString(PyExc_TypeError, "SlotBuilder is initialised once");
        return -1;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    Py_ssize_t *offsets = PyMem_New(Py_ssize_t, n > 0 ? n : 1);
    if (offsets == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *dict = ((PyTypeObject *)cls)->tp_dict;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *name = PyTuple_GET_ITEM(names, i);
        PyObject *desc = PyUnicode_Check(name) && dict != NULL ? PyDict_GetItemWithError(dict, name) : NULL;
        if (desc == NULL && PyErr_Occurred()) {
            PyMem_Free(offsets);
            return -1;
        }
        PyMemberDef *m = desc != NULL && Py_IS_TYPE(desc, &PyMemberDescr_Type)
                             && ((PyDescrObject *)desc)->d_type == (PyTypeObject *)cls
                             ? ((PyMemberDescrObject *)desc)->d_member : NULL;
        if (m == NULL || m->type != T_OBJECT_EX || (m->flags & READONLY)) {
            PyErr_Format(PyExc_TypeError, "%R is no writable slot of %R", name, cls);
            PyMem_Free(offsets);
            return -1;
        }
        for (Py_ssize_t j = 0; j < i; j++)
            if (offsets[j] == m->offset) {
                PyErr_Format(PyExc_TypeError, "slot %R named twice", name);
                PyMem_Free(offsets);
                return -1;
            }
        offsets[i] = m->offset;
    }
    Py_INCREF(cls);
    Py_INCREF(names);
    b->cls = (PyTypeObject *)cls;
    b->names = names;
    b->count = n;
    b->offsets = offsets;
    b->vectorcall = SlotBuilder_call;
    return 0;
}

static PyObject *SlotBuilder_tp_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    SlotBuilder *b = (SlotBuilder *)self;
    if (b->cls == NULL) {
        PyErr_SetString(PyExc_TypeError, "SlotBuilder not initialised");
        return NULL;
    }
    return PyVectorcall_Call(self, args, kwargs);
}

PyDoc_STRVAR(SlotBuilder_reduce_doc,
"reduce(obj) -> (builder, (field, ...))\n\n"
"What pickle needs to build obj again with this builder: the builder and obj's fields in names\n"
"order (for a pickler's dispatch_table; see smtpsniff.transfer).  obj must be an instance of the\n"
"builder's class itself (TypeError otherwise), with every named slot set (AttributeError).");

static PyObject *SlotBuilder_reduce(PyObject *self, PyObject *obj)
{
    SlotBuilder *b = (SlotBuilder *)self;
    if (b->cls == NULL || !Py_IS_TYPE(obj, b->cls)) {
        PyErr_Format(PyExc_TypeError, "%R reduces instances of its class alone, not %R", self, Py_TYPE(obj));
        return NULL;
    }
    PyObject *values = PyTuple_New(b->count);
    if (values == NULL)
        return NULL;
    for (Py_ssize_t i = 0; i < b->count; i++) {
        PyObject *v = *(PyObject **)((char *)obj + b->offsets[i]);
        if (v == NULL) {
            PyErr_Format(PyExc_AttributeError, "%R has no value for %R", Py_TYPE(obj),
                         PyTuple_GET_ITEM(b->names, i));
            Py_DECREF(values);
            return NULL;
        }
        Py_INCREF(v);
        PyTuple_SET_ITEM(values, i, v);
    }
    PyObject *result = PyTuple_New(2);
    if (result == NULL) {
        Py_DECREF(values);
        return NULL;
    }
    Py_INCREF(self);
    PyTuple_SET_ITEM(result, 0, self);
    PyTuple_SET_ITEM(result, 1, values); /* the reference made above, now result's */
    return result;
}

static PyMethodDef SlotBuilder_methods[] = {
    {"reduce", (PyCFunction)SlotBuilder_reduce, METH_O, SlotBuilder_reduce_doc},
    {NULL, NULL, 0, NULL},
};

static int SlotBuilder_traverse(SlotBuilder *b, visitproc visit, void *arg)
{
    Py_VISIT(b->cls);
    Py_VISIT(b->names);
    return 0;
}

static int SlotBuilder_clear(SlotBuilder *b)
{
    Py_CLEAR(b->cls);
    Py_CLEAR(b->names);
    return 0;
}

static void SlotBuilder_dealloc(SlotBuilder *b)
{
    PyObject_GC_UnTrack(b);
    SlotBuilder_clear(b);
    PyMem_Free(b->offsets);
    Py_TYPE(b)->tp_free((PyObject *)b);
}

static PyObject *SlotBuilder_repr(SlotBuilder *b)
{
    if (b->cls == NULL)
        return PyUnicode_FromString("<SlotBuilder (uninitialised)>");
    return PyUnicode_FromFormat("<SlotBuilder of %s>", b->cls->tp_name);
}

static PyObject *SlotBuilder_new(PyTypeObject *type, PyObject *Py_UNUSED(args), PyObject *Py_UNUSED(kwargs))
{
    SlotBuilder *b = (SlotBuilder *)type->tp_alloc(type, 0);
    if (b != NULL)
        b->vectorcall = NULL; /* set by __init__ */
    return (PyObject *)b;
}

static PyTypeObject SlotBuilderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "smtpsniff._native.fastpath.SlotBuilder",
    .tp_basicsize = sizeof(SlotBuilder),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "SlotBuilder(cls, names): builder(*fields) -> cls instance with the named slots set "
              "(see smtpsniff.fastinit)",
    .tp_new = SlotBuilder_new,
    .tp_init = (initproc)SlotBuilder_init,
    .tp_dealloc = (destructor)SlotBuilder_dealloc,
    .tp_traverse = (traverseproc)SlotBuilder_traverse,
    .tp_clear = (inquiry)SlotBuilder_clear,
    .tp_call = SlotBuilder_tp_call,
    .tp_repr = (reprfunc)SlotBuilder_repr,
    .tp_methods = SlotBuilder_methods,
    .tp_vectorcall_offset = offsetof(SlotBuilder, vectorcall),
};

/* ---------------------------------------------------------------------------------------------------
 * Fifth part, the mail parser's (smtpsniff/mail/parse.py _scan_line_ends): mail_line_ends counts the
 * LF not preceded by CR, the CR not followed by LF and the NUL of a message in one pass, eight octets
 * at a time, where the Python code counts CRLF, LF, CR and NUL in four.
 * ------------------------------------------------------------------------------------------------- */

#define ONES UINT64_C(0x0101010101010101)
#define LOW7 UINT64_C(0x7f7f7f7f7f7f7f7f)

/* 0x80 in each octet of w equal to c, 0 in every other (exact: no carry crosses octets). */
static inline uint64_t octets_equal(uint64_t w, unsigned char c)
{
    uint64_t x = w ^ (ONES * c);                 /* 0 where the octet is c */
    return ~(((x & LOW7) + LOW7) | x | LOW7);    /* high bit set only where all 8 bits of x are 0 */
}

/* The sum of the eight octets of a (each at most 255): pairs summed in 16-bit lanes, then the lanes. */
static inline Py_ssize_t octet_sum(uint64_t a)
{
    uint64_t pairs = (a & UINT64_C(0x00ff00ff00ff00ff)) + ((a >> 8) & UINT64_C(0x00ff00ff00ff00ff));
    return (Py_ssize_t)((pairs * UINT64_C(0x0001000100010001)) >> 48);
}

static inline uint64_t load8(const unsigned char *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return w;
}

PyDoc_STRVAR(mail_line_ends_doc,
"mail_line_ends(raw) -> (bare_lf, bare_cr, nul)\n\n"
"In the bytes raw: the LF octets not preceded by CR, the CR octets not followed by LF, and the NUL\n"
"octets -- raw.count(b\"\\n\") - raw.count(b\"\\r\\n\"), raw.count(b\"\\r\") - raw.count(b\"\\r\\n\") and\n"
"raw.count(b\"\\0\").  None when raw is not bytes.");

static PyObject *mail_line_ends(PyObject *Py_UNUSED(mod), PyObject *raw)
{
    if (!PyBytes_Check(raw))
        Py_RETURN_NONE;
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(raw);
    Py_ssize_t n = PyBytes_GET_SIZE(raw);
    Py_ssize_t cr = 0, lf = 0, crlf = 0, nul = 0, i = 0;
    /* Word at i (octets i..i+7) and word at i+1 (octets i+1..i+8): octet k of the first is CR and
     * octet k of the second is LF exactly when a CRLF starts at i+k, whatever the byte order.  Each
     * octet of an accumulator adds 0 or 1 per word: at most 255 words before it is summed. */
    while (n - i >= 9) {
        Py_ssize_t words = (n - i - 1) / 8; /* the last one's second word ends at most at n */
        if (words > 255)
            words = 255;
        uint64_t a_cr = 0, a_lf = 0, a_nul = 0, a_crlf = 0;
        for (Py_ssize_t k = 0; k < words; k++, i += 8) {
            uint64_t w = load8(s + i), next = load8(s + i + 1);
            uint64_t is_cr = octets_equal(w, '\r');
            a_cr += is_cr >> 7;
            a_lf += octets_equal(w, '\n') >> 7;
            a_nul += octets_equal(w, 0) >> 7;
            a_crlf += (is_cr & octets_equal(next, '\n')) >> 7;
        }
        cr += octet_sum(a_cr);
        lf += octet_sum(a_lf);
        nul += octet_sum(a_nul);
        crlf += octet_sum(a_crlf);
    }
    for (; i < n; i++) { /* the last at most 8 octets (or all of a short raw) */
        unsigned char c = s[i];
        cr += c == '\r';
        lf += c == '\n';
        nul += c == 0;
        crlf += c == '\r' && i + 1 < n && s[i + 1] == '\n';
    }
    return Py_BuildValue("(nnn)", lf - crlf, cr - crlf, nul);
}

/* ---- table columns: the slots of many records, as lists and as Arrow buffers (analysis/tables.py) ---- */

/* One column of a block being read: what its values have been so far. */
typedef struct {
    Py_ssize_t offset;   /* the slot's offset in each record */
    PyObject *values;    /* list of the values */
    int kind;            /* COL_* : the one type of its values so far (None aside) */
    Py_ssize_t nulls;
    unsigned char *valid;  /* validity bits, 1 = a value */
    char *data;           /* int64 values, bool bits, or UTF-8 text */
    Py_ssize_t data_len, data_cap;
    int32_t *offsets;     /* str: n + 1 offsets into data */
} SlotColumn;

enum { COL_NONE = 0, COL_INT, COL_BOOL, COL_STR, COL_MIXED };

static int slot_column_grow(SlotColumn *c, Py_ssize_t need)
{
    if (c->data_len + need <= c->data_cap)
        return 0;
    Py_ssize_t cap = c->data_cap ? c->data_cap : 256;
    while (cap < c->data_len + need) {
        if (cap > PY_SSIZE_T_MAX / 2)
            return -1;
        cap *= 2;
    }
    char *grown = PyMem_Realloc(c->data, (size_t)cap);
    if (grown == NULL)
        return -1;
    c->data = grown;
    c->data_cap = cap;
    return 0;
}

/* Take value v (borrowed) as row i of column c; -1 on a memory error. */
static int slot_column_take(SlotColumn *c, Py_ssize_t i, Py_ssize_t n, PyObject *v)
{
    Py_INCREF(v);
    PyList_SET_ITEM(c->values, i, v);
    if (c->kind == COL_MIXED)
        return 0;
    int kind = v == Py_None ? COL_NONE : PyUnicode_CheckExact(v) ? COL_STR : PyLong_CheckExact(v) ? COL_INT
               : PyBool_Check(v) ? COL_BOOL : COL_MIXED;
    if (kind == COL_NONE) {
        c->nulls++;
    } else if (c->kind == COL_NONE || c->kind == kind) {
        if (c->kind == COL_NONE) {  /* the first value: the column's type, space for every row */
            c->kind = kind;
            if (kind == COL_STR) {
                c->offsets = PyMem_Calloc((size_t)n + 1, sizeof(int32_t));
                if (c->offsets == NULL)
                    return -1;
            } else if (slot_column_grow(c, kind == COL_INT ? n * 8 : (n + 7) / 8) < 0) {
                return -1;
            }
            if (kind != COL_STR)
                memset(c->data, 0, (size_t)c->data_cap);
        }
        c->valid[i >> 3] |= (unsigned char)(1u << (i & 7));
        if (kind == COL_INT) {
            int overflow = 0;
            long long x = PyLong_AsLongLongAndOverflow(v, &overflow);
            if (overflow || (x == -1 && PyErr_Occurred())) {  /* beyond int64: Python's way decides */
                PyErr_Clear();
                c->kind = COL_MIXED;
                return 0;
            }
            memcpy(c->data + 8 * i, &x, 8);
        } else if (kind == COL_BOOL) {
            if (v == Py_True)
                c->data[i >> 3] |= (char)(1u << (i & 7));
        } else {
            Py_ssize_t len;
            const char *text = PyUnicode_AsUTF8AndSize(v, &len);
            if (text == NULL || len > INT32_MAX - c->data_len) {  /* a lone surrogate, or 2 GiB */
                PyErr_Clear();
                c->kind = COL_MIXED;
                return 0;
            }
            if (slot_column_grow(c, len) < 0)
                return -1;
            memcpy(c->data + c->data_len, text, (size_t)len);
            c->data_len += len;
        }
    } else {
        c->kind = COL_MIXED;
    }
    if (c->kind == COL_STR)
        c->offsets[i + 1] = (int32_t)c->data_len;
    return 0;
}

/* The tuple slot_columns gives for column c of n rows (see its doc). */
static PyObject *slot_column_result(SlotColumn *c, Py_ssize_t n)
{
    if (c->kind == COL_MIXED)
        return Py_BuildValue("(OO)", c->values, Py_None);
    if (c->kind == COL_NONE)
        return Py_BuildValue("(O(sn))", c->values, "null", n);
    PyObject *valid = c->nulls ? PyBytes_FromStringAndSize((const char *)c->valid, (n + 7) / 8) : Py_NewRef(Py_None);
    PyObject *data = PyBytes_FromStringAndSize(c->data, c->kind == COL_INT ? 8 * n : c->kind == COL_BOOL ? (n + 7) / 8
                                                                                   : c->data_len);
    PyObject *offsets = c->kind == COL_STR ? PyBytes_FromStringAndSize((const char *)c->offsets, 4 * (n + 1))
                                           : Py_NewRef(Py_None);
    PyObject *out = NULL;
    if (valid != NULL && data != NULL && offsets != NULL)
        out = Py_BuildValue("(O(snnOOO))", c->values, c->kind == COL_INT ? "int64" : c->kind == COL_BOOL ? "bool"
                                                                                 : "string",
                            n, c->nulls, valid, data, offsets);
    Py_XDECREF(valid);
    Py_XDECREF(data);
    Py_XDECREF(offsets);
    return out;
}

PyDoc_STRVAR(slot_columns_doc,
"slot_columns(items, cls, names) -> tuple | None\n\n"
"The values of the slots `names` of `items` (a list of instances of exactly `cls`), one column per\n"
"name: (values, array), where values is the list of the column's values and array describes the\n"
"Arrow array pyarrow infers from them: ('null', n) when all are None; (type, n, nulls, validity,\n"
"data, offsets) when every value is None or exactly one of str (type 'string', UTF-8 data and\n"
"int32 offsets), int within int64 ('int64') or bool ('bool', bits), validity being None when no\n"
"value is None; None when the values have no such type.  None instead of the tuple when an item\n"
"is no `cls` or lacks a slot, `names` are not slots of `cls`, or `cls` reads its attributes its\n"
"own way (__getattribute__ or __getattr__).");

static PyObject *slot_columns(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyList_Check(args[0]) || !PyType_Check(args[1]) || !PyTuple_Check(args[2])) {
        PyErr_SetString(PyExc_TypeError, "slot_columns(items: list, cls: type, names: tuple)");
        return NULL;
    }
    PyObject *items = args[0], *names = args[2];
    PyTypeObject *cls = (PyTypeObject *)args[1];
    Py_ssize_t n = PyList_GET_SIZE(items), k = PyTuple_GET_SIZE(names);
    if (cls->tp_getattro != PyObject_GenericGetAttr)  /* attributes read its own way: Python reads them */
        Py_RETURN_NONE;
    for (Py_ssize_t r = 0; r < n; r++)
        if (Py_TYPE(PyList_GET_ITEM(items, r)) != cls)
            Py_RETURN_NONE;
    SlotColumn *cols = PyMem_Calloc((size_t)(k > 0 ? k : 1), sizeof(SlotColumn));
    if (cols == NULL)
        return PyErr_NoMemory();
    PyObject *out = NULL;
    int usable = 1;
    for (Py_ssize_t j = 0; j < k && usable; j++) {
        PyObject *name = PyTuple_GET_ITEM(names, j);
        PyObject *desc = PyUnicode_Check(name) ? _PyType_Lookup(cls, name) : NULL;
        usable = desc != NULL && Py_IS_TYPE(desc, &PyMemberDescr_Type)
                 && ((PyMemberDescrObject *)desc)->d_member->type == T_OBJECT_EX;
        if (usable)
            cols[j].offset = ((PyMemberDescrObject *)desc)->d_member->offset;
    }
    if (!usable) {
        out = Py_NewRef(Py_None);
        goto done;
    }
    for (Py_ssize_t j = 0; j < k; j++) {
        cols[j].values = PyList_New(n);
        cols[j].valid = PyMem_Calloc((size_t)(n + 7) / 8 + 1, 1);
        if (cols[j].values == NULL || cols[j].valid == NULL) {
            PyErr_NoMemory();
            goto done;
        }
    }
    for (Py_ssize_t r = 0; r < n; r++) {
        PyObject *item = PyList_GET_ITEM(items, r);
        for (Py_ssize_t j = 0; j < k; j++) {
            PyObject *v = *(PyObject **)((char *)item + cols[j].offset);
            if (v == NULL) {  /* an unset slot: Python's way raises its AttributeError */
                out = Py_NewRef(Py_None);
                goto done;
            }
            if (slot_column_take(&cols[j], r, n, v) < 0) {
                PyErr_NoMemory();
                goto done;
            }
        }
    }
    out = PyTuple_New(k);
    for (Py_ssize_t j = 0; out != NULL && j < k; j++) {
        PyObject *column = slot_column_result(&cols[j], n);
        if (column == NULL)
            Py_CLEAR(out);
        else
            PyTuple_SET_ITEM(out, j, column);
    }
done:
    for (Py_ssize_t j = 0; j < k; j++) {
        Py_XDECREF(cols[j].values);
        PyMem_Free(cols[j].valid);
        PyMem_Free(cols[j].data);
        PyMem_Free(cols[j].offsets);
    }
    PyMem_Free(cols);
    return out;
}

/* ---------------------------------------------------------------------------------------------------
 * Sixth part, the record builder's (smtpsniff/records/builder.py): BuilderEvents, called as
 * events(builder, event_list), is SessionBuilder.add_all with the two handlers most events go to,
 * _on_command and _on_reply, written in C.  It works on the builder's own state, in its slots and in
 * the lists and dicts they hold (the _Transaction row, the command rows, the recipient rows), exactly
 * as the Python handlers do, and calls the Python code for everything else: the handlers of the
 * other events (SessionBuilder._HANDLERS), _write_current, _params_text and the AUTH mechanism's
 * reading.  A builder of another class than the one it was made for gets its own add_all.
 * ------------------------------------------------------------------------------------------------- */

#define OSLOT(o, off) (*(PyObject **)((char *)(o) + (off)))

/* SessionBuilder's slots read or written here. */
enum { B_SESSION_ID, B_SHARED, B_COMMANDS, B_COMMAND_ROWS, B_REPLIES, B_MESSAGE_TRANS, B_TRANSFERRED, B_HELO,
       B_HELO_VERB, B_BANNER, B_GREETING_CODE, B_STARTTLS_USED, B_AUTH_MECHANISM, B_AUTH_REPLY_CODE, B_LAST_TS,
       B_CURRENT, B_COUNT };
static const char *const BUILDER_SLOTS[B_COUNT] = {
    "session_id", "_shared", "_commands", "_command_rows", "_replies", "_message_trans", "_messages_transferred",
    "_helo", "_helo_verb", "_banner", "_greeting_code", "_starttls_used", "_auth_mechanism", "_auth_reply_code",
    "_last_ts_ns", "_current"};
/* _Transaction's. */
enum { T_INDEX, T_ACTIVE, T_TS, T_FRAME, T_HELO, T_MAIL_FROM, T_MAIL_PARAMS, T_RCPT, T_RCPT_BY_COMMAND, T_DATA_VIA,
       T_MAIL_REPLY_CODE, T_DATA_REPLY_CODE, T_FINAL_REPLY_CODE, T_LAST_REPLY, T_ABORTED, T_COUNT };
static const char *const TRANSACTION_SLOTS[T_COUNT] = {
    "trans_index", "active", "ts_ns", "frame", "helo", "mail_from", "mail_params", "rcpt", "rcpt_by_command",
    "data_via", "mail_reply_code", "data_reply_code", "final_reply_code", "last_reply", "aborted"};
/* Command's (smtpsniff/smtp/events.py). */
enum { EC_INDEX, EC_VERB, EC_ARGUMENT, EC_RAW, EC_KNOWN, EC_PARAMS, EC_ADDRESS, EC_PIPELINED, EC_TS, EC_FRAME,
       EC_COUNT };
static const char *const COMMAND_SLOTS[EC_COUNT] = {
    "index", "verb", "argument", "raw", "known", "params", "address", "pipelined", "ts_ns", "frame"};
/* Reply's. */
enum { ER_CODE, ER_ENHANCED, ER_LINES, ER_TEXT, ER_INDEX, ER_VERB, ER_STAGE, ER_TS, ER_FRAME, ER_COUNT };
static const char *const REPLY_SLOTS[ER_COUNT] = {
    "code", "enhanced_code", "lines", "text", "command_index", "verb", "stage", "ts_ns", "frame"};
/* ReplyRecord's fields in order (smtpsniff/records/model.py). */
#define REPLY_RECORD_FIELDS 12
static const char *const REPLY_RECORD_SLOTS[REPLY_RECORD_FIELDS] = {
    "session_id", "index", "ts_ns", "frame", "code", "enhanced_code", "text", "lines", "verb", "stage",
    "command_index", "trans_index"};
static const char *const SHARED_SLOTS[1] = {"_values"};
/* A command's row (builder.py _CMD_*) and a recipient's (_RCPT_*). */
enum { CMD_ROW_SIZE = 13, CMD_TRANS = 8, CMD_REPLY_CODE = 9, CMD_REPLY_FRAME = 10, CMD_REPLY_TS = 11 };
enum { RCPT_ROW_SIZE = 9, RCPT_REPLY_CODE = 7, RCPT_REPLY_TEXT = 8 };
/* The verbs compared with. */
enum { V_RCPT, V_MAIL, V_DATA, V_BDAT, V_RSET, V_QUIT, V_AUTH, V_STARTTLS, V_COUNT };
static const char *const VERB_NAMES[V_COUNT] = {"RCPT", "MAIL", "DATA", "BDAT", "RSET", "QUIT", "AUTH", "STARTTLS"};
/* The ReplyStage members compared with. */
enum { S_COMMAND, S_GREETING, S_DATA_START, S_DATA_END, S_BDAT_CHUNK, S_COUNT };

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    PyTypeObject *builder_type, *transaction_type, *command_type, *reply_type, *record_type, *shared_type;
    PyObject *stages[S_COUNT];
    PyObject *greeting_verb, *quiet_verbs, *helo_verbs, *params_text, *auth_mechanism;
    PyObject *verbs[V_COUNT];
    PyObject *code_220, *one;
    PyObject *s_write_current, *s_text, *s_add_all; /* method names */
    Py_ssize_t b_off[B_COUNT], t_off[T_COUNT], c_off[EC_COUNT], r_off[ER_COUNT], rec_off[REPLY_RECORD_FIELDS];
    Py_ssize_t values_off;
} BuilderEvents;

/* A slot's value (borrowed), or NULL with AttributeError when it is unset. */
static PyObject *slot_read(PyObject *o, Py_ssize_t off, const char *name)
{
    PyObject *v = OSLOT(o, off);
    if (v == NULL)
        PyErr_Format(PyExc_AttributeError, "%s of %R is not set", name, Py_TYPE(o));
    return v;
}

static void slot_write(PyObject *o, Py_ssize_t off, PyObject *v)
{
    Py_XSETREF(OSLOT(o, off), Py_NewRef(v));
}

#define READ(var, obj, off, name)                       \
    do {                                                \
        if (((var) = slot_read((obj), (off), (name))) == NULL) \
            goto fail;                                  \
    } while (0)

/* obj == the verb constant, as Python's == (-1 on error). */
static inline int is_verb(BuilderEvents *be, PyObject *obj, int verb)
{
    PyObject *v = be->verbs[verb];
    return obj == v ? 1 : PyObject_RichCompareBool(obj, v, Py_EQ);
}

/* builder._current, checked to be a _Transaction (borrowed; NULL with an error). */
static PyObject *current_row(BuilderEvents *be, PyObject *b)
{
    PyObject *t = slot_read(b, be->b_off[B_CURRENT], "_current");
    if (t != NULL && !Py_IS_TYPE(t, be->transaction_type)) {
        PyErr_Format(PyExc_TypeError, "_current is %R, not %R", Py_TYPE(t), be->transaction_type);
        return NULL;
    }
    return t;
}

/* args[0].<name>(*args[1:nargs]), its result dropped: 0, or -1 on error (the Python handlers this part
 * and the next hand a case to return None). */
static int call_method(PyObject *name, PyObject *const *args, size_t nargs)
{
    PyObject *r = PyObject_VectorcallMethod(name, args, nargs, NULL);
    Py_XDECREF(r);
    return r == NULL ? -1 : 0;
}

/* SessionBuilder._write_current(), the Python method. */
static int write_current(BuilderEvents *be, PyObject *b)
{
    return call_method(be->s_write_current, &b, 1);
}

/* _params_text(params) if params else "" (a new reference). */
static PyObject *params_text(BuilderEvents *be, PyObject *params)
{
    int any = PyObject_IsTrue(params);
    if (any < 0)
        return NULL;
    return any ? PyObject_CallOneArg(be->params_text, params) : PyUnicode_FromStringAndSize("", 0);
}

/* SessionBuilder._activate on row t (-1 on error): a row not active yet starts at this command. */
static int activate(BuilderEvents *be, PyObject *b, PyObject *t, PyObject *ts, PyObject *frame)
{
    const Py_ssize_t *to = be->t_off;
    PyObject *active = slot_read(t, to[T_ACTIVE], "active"), *helo;
    int on = active == NULL ? -1 : PyObject_IsTrue(active);
    if (on != 0)
        return on < 0 ? -1 : 0;
    if ((helo = slot_read(b, be->b_off[B_HELO], "_helo")) == NULL)
        return -1;
    slot_write(t, to[T_ACTIVE], Py_True);
    slot_write(t, to[T_TS], ts);
    slot_write(t, to[T_FRAME], frame);
    slot_write(t, to[T_HELO], helo);
    return 0;
}

/* SessionBuilder._on_command. */
static int be_command(BuilderEvents *be, PyObject *b, PyObject *c)
{
    const Py_ssize_t *to = be->t_off, *co = be->c_off;
    PyObject *ts, *verb, *argument, *frame, *index, *trans_index = Py_None, *t, *session_id;
    PyObject *row = NULL, *held = NULL; /* held: a new reference trans_index may stand on */
    int is;
    READ(ts, c, co[EC_TS], "ts_ns");
    READ(verb, c, co[EC_VERB], "verb");
    READ(argument, c, co[EC_ARGUMENT], "argument");
    READ(frame, c, co[EC_FRAME], "frame");
    READ(index, c, co[EC_INDEX], "index");
    READ(session_id, b, be->b_off[B_SESSION_ID], "session_id");
    slot_write(b, be->b_off[B_LAST_TS], ts);
    if ((is = is_verb(be, verb, V_RCPT)) < 0)
        goto fail;
    if (is) {
        if ((t = current_row(be, b)) == NULL || activate(be, b, t, ts, frame) < 0)
            goto fail;
        PyObject *rcpt_list, *by_command, *address, *params;
        READ(trans_index, t, to[T_INDEX], "trans_index");
        held = Py_NewRef(trans_index);
        READ(rcpt_list, t, to[T_RCPT], "rcpt");
        READ(by_command, t, to[T_RCPT_BY_COMMAND], "rcpt_by_command");
        READ(address, c, co[EC_ADDRESS], "address");
        READ(params, c, co[EC_PARAMS], "params");
        Py_ssize_t count = PyObject_Size(rcpt_list);
        if (count < 0)
            goto fail;
        PyObject *vals[RCPT_ROW_SIZE] = {
            Py_NewRef(session_id), Py_NewRef(trans_index), PyLong_FromSsize_t(count), Py_NewRef(ts), Py_NewRef(frame),
            Py_NewRef(address != Py_None ? address : argument), params_text(be, params), Py_NewRef(Py_None),
            Py_NewRef(Py_None)};
        PyObject *rcpt = PyList_New(RCPT_ROW_SIZE);
        for (int i = 0; i < RCPT_ROW_SIZE; i++) {
            if (vals[i] == NULL || rcpt == NULL) {
                for (int j = 0; j < RCPT_ROW_SIZE; j++)
                    Py_XDECREF(vals[j]);
                Py_XDECREF(rcpt);
                goto fail;
            }
        }
        for (int i = 0; i < RCPT_ROW_SIZE; i++)
            PyList_SET_ITEM(rcpt, i, vals[i]);
        int bad = PyList_Check(rcpt_list) ? PyList_Append(rcpt_list, rcpt) : -1;
        if (bad == 0)
            bad = PyObject_SetItem(by_command, index, rcpt);
        else if (!PyErr_Occurred())
            PyErr_SetString(PyExc_TypeError, "_Transaction.rcpt is no list");
        Py_DECREF(rcpt);
        if (bad < 0)
            goto fail;
    } else if ((is = is_verb(be, verb, V_MAIL)) != 0) {
        if (is < 0 || write_current(be, b) < 0)
            goto fail;
        if ((t = current_row(be, b)) == NULL || activate(be, b, t, ts, frame) < 0)
            goto fail;
        PyObject *address, *params;
        READ(address, c, co[EC_ADDRESS], "address");
        slot_write(t, to[T_MAIL_FROM], address != Py_None ? address : argument);
        READ(params, c, co[EC_PARAMS], "params");
        PyObject *text = params_text(be, params);
        if (text == NULL)
            goto fail;
        Py_XSETREF(OSLOT(t, to[T_MAIL_PARAMS]), text);
        READ(trans_index, t, to[T_INDEX], "trans_index");
        held = Py_NewRef(trans_index);
    } else if ((is = PySet_Contains(be->helo_verbs, verb)) != 0) {
        if (is < 0)
            goto fail;
        slot_write(b, be->b_off[B_HELO], argument);
        slot_write(b, be->b_off[B_HELO_VERB], verb);
        if ((t = current_row(be, b)) == NULL)
            goto fail;
        PyObject *active;
        READ(active, t, to[T_ACTIVE], "active");
        int on = PyObject_IsTrue(active);
        if (on < 0)
            goto fail;
        if (!on)
            slot_write(t, to[T_HELO], argument);
        else { /* t.helo = t.helo: an unset slot raises as Python's read would */
            PyObject *helo;
            READ(helo, t, to[T_HELO], "helo");
        }
    } else if ((is = is_verb(be, verb, V_DATA)) != 0 || (is = is_verb(be, verb, V_BDAT)) != 0) {
        if (is < 0 || (t = current_row(be, b)) == NULL)
            goto fail;
        PyObject *via, *active;
        READ(via, t, to[T_DATA_VIA], "data_via");
        if (via == Py_None)
            slot_write(t, to[T_DATA_VIA], verb);
        READ(active, t, to[T_ACTIVE], "active");
        int on = PyObject_IsTrue(active);
        if (on < 0)
            goto fail;
        if (on) {
            READ(trans_index, t, to[T_INDEX], "trans_index");
            held = Py_NewRef(trans_index);
        }
    } else if ((is = is_verb(be, verb, V_RSET)) != 0 || (is = is_verb(be, verb, V_QUIT)) != 0) {
        if (is < 0 || (t = current_row(be, b)) == NULL)
            goto fail;
        PyObject *active;
        READ(active, t, to[T_ACTIVE], "active");
        int on = PyObject_IsTrue(active);
        if (on < 0)
            goto fail;
        if (on)
            slot_write(t, to[T_ABORTED], Py_True);
    } else if ((is = is_verb(be, verb, V_AUTH)) != 0) {
        if (is < 0)
            goto fail;
        PyObject *mechanism = PyObject_CallOneArg(be->auth_mechanism, argument);
        if (mechanism == NULL)
            goto fail;
        Py_XSETREF(OSLOT(b, be->b_off[B_AUTH_MECHANISM]), mechanism);
        slot_write(b, be->b_off[B_AUTH_REPLY_CODE], Py_None);
    }
    PyObject *known, *pipelined, *raw, *commands, *rows;
    READ(known, c, co[EC_KNOWN], "known");
    READ(pipelined, c, co[EC_PIPELINED], "pipelined");
    READ(raw, c, co[EC_RAW], "raw");
    READ(commands, b, be->b_off[B_COMMANDS], "_commands");
    READ(rows, b, be->b_off[B_COMMAND_ROWS], "_command_rows");
    /* _on_command reads session_id again here; nothing above can have changed it but _write_current */
    READ(session_id, b, be->b_off[B_SESSION_ID], "session_id");
    if ((row = PyList_New(CMD_ROW_SIZE)) == NULL)
        goto fail;
    PyObject *items[CMD_ROW_SIZE] = {session_id, index, ts, frame, verb, argument, known, pipelined, trans_index,
                                     Py_None, Py_None, Py_None, raw};
    for (int i = 0; i < CMD_ROW_SIZE; i++)
        PyList_SET_ITEM(row, i, Py_NewRef(items[i]));
    if (!PyList_Check(commands)) {
        PyErr_SetString(PyExc_TypeError, "SessionBuilder._commands is no list");
        goto fail;
    }
    if (PyList_Append(commands, row) < 0 || PyObject_SetItem(rows, index, row) < 0)
        goto fail;
    Py_DECREF(row);
    Py_XDECREF(held);
    return 0;
fail:
    Py_XDECREF(row);
    Py_XDECREF(held);
    return -1;
}

/* rows.get(key) of a builder's dict of rows, each a list of `size` fields (*row, borrowed): 1 found,
 * 0 none (or None), -1 on error (`what` names the dict). */
static int row_of(PyObject *rows, PyObject *key, Py_ssize_t size, const char *what, PyObject **row)
{
    if (!PyDict_CheckExact(rows)) {
        PyErr_Format(PyExc_TypeError, "%s is no dict", what);
        return -1;
    }
    PyObject *found = PyDict_GetItemWithError(rows, key);
    if (found == NULL)
        return PyErr_Occurred() ? -1 : 0;
    if (found == Py_None)
        return 0;
    if (!PyList_CheckExact(found) || PyList_GET_SIZE(found) != size) {
        PyErr_Format(PyExc_TypeError, "a row of %s is no list of its fields", what);
        return -1;
    }
    *row = found;
    return 1;
}

/* SessionBuilder._on_reply. */
static int be_reply(BuilderEvents *be, PyObject *b, PyObject *r)
{
    const Py_ssize_t *to = be->t_off, *ro = be->r_off;
    PyObject *ts, *code, *frame, *index, *text_in, *shared, *verb, *stage, *enhanced, *lines;
    PyObject *t = NULL, *text = NULL, *trans_index = NULL; /* new references */
    PyObject **stages = be->stages;
    int message_end = 0, is;
    READ(ts, r, ro[ER_TS], "ts_ns");
    slot_write(b, be->b_off[B_LAST_TS], ts);
    READ(code, r, ro[ER_CODE], "code");
    READ(frame, r, ro[ER_FRAME], "frame");
    READ(index, r, ro[ER_INDEX], "command_index");
    if ((t = current_row(be, b)) == NULL)
        goto fail;
    Py_INCREF(t); /* the row the handler began with, whatever _write_current makes current */
    slot_write(t, to[T_LAST_REPLY], r);
    READ(text_in, r, ro[ER_TEXT], "text");
    READ(shared, b, be->b_off[B_SHARED], "_shared");
    if (shared == Py_None || !PyUnicode_CheckExact(text_in))
        text = Py_NewRef(text_in);
    else if (Py_IS_TYPE(shared, be->shared_type)) {
        PyObject *values = OSLOT(shared, be->values_off);
        if (values == NULL || !PyDict_CheckExact(values)) {
            PyErr_SetString(PyExc_TypeError, "SharedValues._values is no dict");
            goto fail;
        }
        text = PyDict_SetDefault(values, text_in, text_in);
        Py_XINCREF(text);
    } else {
        PyObject *call[2] = {shared, text_in};
        text = PyObject_VectorcallMethod(be->s_text, call, 2, NULL);
    }
    if (text == NULL)
        goto fail;
    if (index == Py_None)
        trans_index = Py_NewRef(Py_None);
    else {
        PyObject *rows, *cmd = NULL;
        READ(rows, b, be->b_off[B_COMMAND_ROWS], "_command_rows");
        int found = row_of(rows, index, CMD_ROW_SIZE, "SessionBuilder._command_rows", &cmd);
        if (found < 0)
            goto fail;
        if (found) {
            trans_index = Py_NewRef(PyList_GET_ITEM(cmd, CMD_TRANS));
            if (PyList_GET_ITEM(cmd, CMD_REPLY_CODE) == Py_None) {
                PyList_SetItem(cmd, CMD_REPLY_CODE, Py_NewRef(code));
                PyList_SetItem(cmd, CMD_REPLY_FRAME, Py_NewRef(frame));
                PyList_SetItem(cmd, CMD_REPLY_TS, Py_NewRef(ts));
            }
        } else {
            PyObject *by_message;
            READ(by_message, b, be->b_off[B_MESSAGE_TRANS], "_message_trans");
            if (!PyDict_CheckExact(by_message)) {
                PyErr_SetString(PyExc_TypeError, "SessionBuilder._message_trans is no dict");
                goto fail;
            }
            trans_index = PyDict_GetItemWithError(by_message, index);
            if (trans_index == NULL && PyErr_Occurred())
                goto fail;
            trans_index = Py_NewRef(trans_index != NULL ? trans_index : Py_None);
        }
    }
    READ(verb, r, ro[ER_VERB], "verb");
    READ(stage, r, ro[ER_STAGE], "stage");
    READ(enhanced, r, ro[ER_ENHANCED], "enhanced_code");
    if (stage == stages[S_COMMAND] && (is = PySet_Contains(be->quiet_verbs, verb)) != 0) {
        if (is < 0)
            goto fail;
        /* the reply changes nothing but its command's row */
    } else if (stage == stages[S_GREETING] || (is = PyObject_RichCompareBool(verb, be->greeting_verb, Py_EQ)) != 0) {
        if (stage != stages[S_GREETING] && is < 0)
            goto fail;
        if (OSLOT(b, be->b_off[B_BANNER]) == Py_None) {
            slot_write(b, be->b_off[B_BANNER], text);
            slot_write(b, be->b_off[B_GREETING_CODE], code);
        } else if (OSLOT(b, be->b_off[B_BANNER]) == NULL) {
            slot_read(b, be->b_off[B_BANNER], "_banner");
            goto fail;
        }
    } else {
        PyObject *t_index;
        int mail;
        if ((mail = is_verb(be, verb, V_MAIL)) < 0)
            goto fail;
        if (mail) {
            if ((t_index = slot_read(t, to[T_INDEX], "trans_index")) == NULL
                || (mail = PyObject_RichCompareBool(trans_index, t_index, Py_EQ)) < 0)
                goto fail;
        }
        if (mail)
            slot_write(t, to[T_MAIL_REPLY_CODE], code);
        else if ((is = is_verb(be, verb, V_RCPT)) != 0) {
            PyObject *by_command, *rcpt = NULL;
            int found;
            if (is < 0 || (by_command = slot_read(t, to[T_RCPT_BY_COMMAND], "rcpt_by_command")) == NULL
                || (found = row_of(by_command, index, RCPT_ROW_SIZE, "_Transaction.rcpt_by_command", &rcpt)) < 0)
                goto fail;
            if (found) {
                PyList_SetItem(rcpt, RCPT_REPLY_CODE, Py_NewRef(code));
                PyList_SetItem(rcpt, RCPT_REPLY_TEXT, Py_NewRef(text));
            }
        } else if (stage == stages[S_DATA_START]
                   || (stage == stages[S_BDAT_CHUNK] && OSLOT(t, to[T_DATA_REPLY_CODE]) == Py_None)) {
            slot_write(t, to[T_DATA_REPLY_CODE], code);
        } else if (stage == stages[S_DATA_END]) {
            PyObject *data_code, *active;
            if ((data_code = slot_read(t, to[T_DATA_REPLY_CODE], "data_reply_code")) == NULL)
                goto fail;
            if (data_code == Py_None) {
                if ((is = is_verb(be, verb, V_BDAT)) < 0)
                    goto fail;
                if (is)
                    slot_write(t, to[T_DATA_REPLY_CODE], code);
            }
            slot_write(t, to[T_FINAL_REPLY_CODE], code);
            if ((active = slot_read(t, to[T_ACTIVE], "active")) == NULL || (is = PyObject_IsTrue(active)) < 0)
                goto fail;
            if (is) {
                PyObject *t_index2 = slot_read(t, to[T_INDEX], "trans_index");
                if (t_index2 == NULL)
                    goto fail;
                Py_SETREF(trans_index, Py_NewRef(t_index2));
            }
            message_end = 1;
        } else if ((is = is_verb(be, verb, V_AUTH)) != 0 && stage == stages[S_COMMAND]) {
            if (is < 0)
                goto fail;
            slot_write(b, be->b_off[B_AUTH_REPLY_CODE], code);
        } else if (is < 0)
            goto fail;
        else if ((is = is_verb(be, verb, V_STARTTLS)) != 0) {
            int ok;
            if (is < 0 || (ok = PyObject_RichCompareBool(code, be->code_220, Py_EQ)) < 0)
                goto fail;
            if (ok)
                slot_write(b, be->b_off[B_STARTTLS_USED], Py_True);
        }
    }
    {
        PyObject *replies, *session_id, *stage_value;
        READ(replies, b, be->b_off[B_REPLIES], "_replies");
        READ(session_id, b, be->b_off[B_SESSION_ID], "session_id");
        READ(lines, r, ro[ER_LINES], "lines");
        if (!PyList_Check(replies)) {
            PyErr_SetString(PyExc_TypeError, "SessionBuilder._replies is no list");
            goto fail;
        }
        Py_ssize_t n_lines = PyObject_Size(lines);
        if (n_lines < 0)
            goto fail;
        if (stage == stages[S_COMMAND] || stage == stages[S_GREETING])
            stage_value = Py_NewRef(Py_None);
        else if ((stage_value = PyObject_GetAttrString(stage, "_value_")) == NULL)
            goto fail;
        PyObject *vals[REPLY_RECORD_FIELDS] = {
            Py_NewRef(session_id), PyLong_FromSsize_t(PyList_GET_SIZE(replies)), Py_NewRef(ts), Py_NewRef(frame),
            Py_NewRef(code), Py_NewRef(enhanced), Py_NewRef(text), PyLong_FromSsize_t(n_lines), Py_NewRef(verb),
            stage_value, Py_NewRef(index), Py_NewRef(trans_index)};
        PyObject *record = new_frozen(be->record_type, be->rec_off, vals, REPLY_RECORD_FIELDS);
        if (record == NULL)
            goto fail;
        int bad = PyList_Append(replies, record);
        Py_DECREF(record);
        if (bad < 0)
            goto fail;
    }
    if (message_end) {
        PyObject *count, *more;
        READ(count, b, be->b_off[B_TRANSFERRED], "_messages_transferred");
        if ((more = PyNumber_Add(count, be->one)) == NULL)
            goto fail;
        Py_XSETREF(OSLOT(b, be->b_off[B_TRANSFERRED]), more);
        if (write_current(be, b) < 0)
            goto fail;
    }
    Py_DECREF(t);
    Py_DECREF(text);
    Py_DECREF(trans_index);
    return 0;
fail:
    Py_XDECREF(t);
    Py_XDECREF(text);
    Py_XDECREF(trans_index);
    return -1;
}

/* events(builder, events): SessionBuilder.add_all(builder, events). */
static PyObject *BuilderEvents_call(PyObject *callable, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    BuilderEvents *be = (BuilderEvents *)callable;
    if (PyVectorcall_NARGS(nargsf) != 2 || kwnames != NULL) {
        PyErr_SetString(PyExc_TypeError, "events(builder, events) takes two arguments");
        return NULL;
    }
    PyObject *b = args[0], *events = args[1];
    if (be->builder_type == NULL) {
        PyErr_SetString(PyExc_TypeError, "BuilderEvents not initialised");
        return NULL;
    }
    if (!Py_IS_TYPE(b, be->builder_type) || !PyList_Check(events)) /* another class, or no list: its add_all */
        return PyObject_VectorcallMethod(be->s_add_all, args, 2, NULL);
    PyObject *handlers = PyObject_GetAttrString(b, "_HANDLERS");
    if (handlers == NULL)
        return NULL;
    if (!PyDict_Check(handlers)) {
        PyErr_SetString(PyExc_TypeError, "SessionBuilder._HANDLERS is no dict");
        Py_DECREF(handlers);
        return NULL;
    }
    int bad = 0;
    /* As Python's iteration over a list: the length is read again after each event. */
    for (Py_ssize_t i = 0; !bad && i < PyList_GET_SIZE(events); i++) {
        PyObject *ev = Py_NewRef(PyList_GET_ITEM(events, i));
        PyTypeObject *kind = Py_TYPE(ev);
        if (kind == be->reply_type)
            bad = be_reply(be, b, ev) < 0;
        else if (kind == be->command_type)
            bad = be_command(be, b, ev) < 0;
        else {
            PyObject *handler = PyDict_GetItemWithError(handlers, (PyObject *)kind);
            if (handler != NULL) {
                Py_INCREF(handler);
                PyObject *res = PyObject_CallFunctionObjArgs(handler, b, ev, NULL);
                Py_DECREF(handler);
                bad = res == NULL;
                Py_XDECREF(res);
            } else
                bad = PyErr_Occurred() != NULL;
        }
        Py_DECREF(ev);
    }
    Py_DECREF(handlers);
    if (bad)
        return NULL;
    Py_RETURN_NONE;
}

static int BuilderEvents_init(BuilderEvents *be, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"builder_type", "transaction_type", "shared_type", "command_type", "reply_type",
                             "record_type", "stages", "greeting_verb", "quiet_verbs", "helo_verbs", "params_text",
                             "auth_mechanism", NULL};
    PyObject *types[6], *stages, *greeting_verb, *quiet, *helo, *params_text, *auth_mechanism;
    if (be->builder_type != NULL) {
        PyErr_SetString(PyExc_TypeError, "BuilderEvents is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOOOOOO!UO!O!OO:BuilderEvents", kwlist, &types[0], &types[1],
                                     &types[2], &types[3], &types[4], &types[5], &PyTuple_Type, &stages,
                                     &greeting_verb, &PyFrozenSet_Type, &quiet, &PyFrozenSet_Type, &helo,
                                     &params_text, &auth_mechanism))
        return -1;
    if (PyTuple_GET_SIZE(stages) != S_COUNT) {
        PyErr_SetString(PyExc_ValueError, "stages: (COMMAND, GREETING, DATA_START, DATA_END, BDAT_CHUNK)");
        return -1;
    }
    static const char *const type_names[6] = {"builder_type", "transaction_type", "shared_type", "command_type",
                                              "reply_type", "record_type"};
    for (int i = 0; i < 6; i++)
        if (!PyType_Check(types[i])) {
            PyErr_Format(PyExc_TypeError, "%s must be a type", type_names[i]);
            return -1;
        }
    if (slot_offsets(types[0], "builder_type", BUILDER_SLOTS, B_COUNT, be->b_off) < 0
        || slot_offsets(types[1], "transaction_type", TRANSACTION_SLOTS, T_COUNT, be->t_off) < 0
        || slot_offsets(types[2], "shared_type", SHARED_SLOTS, 1, &be->values_off) < 0
        || slot_offsets(types[3], "command_type", COMMAND_SLOTS, EC_COUNT, be->c_off) < 0
        || slot_offsets(types[4], "reply_type", REPLY_SLOTS, ER_COUNT, be->r_off) < 0
        || slot_offsets(types[5], "record_type", REPLY_RECORD_SLOTS, REPLY_RECORD_FIELDS, be->rec_off) < 0)
        return -1;
    for (int v = 0; v < V_COUNT; v++)
        if ((be->verbs[v] = PyUnicode_InternFromString(VERB_NAMES[v])) == NULL)
            return -1;
    if ((be->code_220 = PyLong_FromLong(220)) == NULL || (be->one = PyLong_FromLong(1)) == NULL
        || (be->s_write_current = PyUnicode_InternFromString("_write_current")) == NULL
        || (be->s_text = PyUnicode_InternFromString("text")) == NULL
        || (be->s_add_all = PyUnicode_InternFromString("add_all")) == NULL)
        return -1;
    PyTypeObject **fields[6] = {&be->builder_type, &be->transaction_type, &be->shared_type, &be->command_type,
                                &be->reply_type, &be->record_type};
    for (int i = 0; i < 6; i++)
        *fields[i] = (PyTypeObject *)Py_NewRef(types[i]);
    for (int i = 0; i < S_COUNT; i++)
        be->stages[i] = Py_NewRef(PyTuple_GET_ITEM(stages, i));
    be->greeting_verb = Py_NewRef(greeting_verb);
    be->quiet_verbs = Py_NewRef(quiet);
    be->helo_verbs = Py_NewRef(helo);
    be->params_text = Py_NewRef(params_text);
    be->auth_mechanism = Py_NewRef(auth_mechanism);
    be->vectorcall = BuilderEvents_call;
    return 0;
}

static PyObject *BuilderEvents_tp_call(PyObject *self, PyObject *args, PyObject *kwargs)
{
    return PyVectorcall_Call(self, args, kwargs);
}

/* The objects a BuilderEvents was given, visited and cleared alike (its own constants are cleared only). */
#define BE_OBJECTS(X) X(builder_type) X(transaction_type) X(shared_type) X(command_type) X(reply_type) \
    X(record_type) X(stages[S_COMMAND]) X(stages[S_GREETING]) X(stages[S_DATA_START]) X(stages[S_DATA_END]) \
    X(stages[S_BDAT_CHUNK]) X(greeting_verb) X(quiet_verbs) X(helo_verbs) X(params_text) X(auth_mechanism)

static int BuilderEvents_traverse(BuilderEvents *be, visitproc visit, void *arg)
{
#define BE_VISIT(name) Py_VISIT(be->name);
    BE_OBJECTS(BE_VISIT)
#undef BE_VISIT
    return 0;
}

static int BuilderEvents_clear(BuilderEvents *be)
{
#define BE_CLEAR(name) Py_CLEAR(be->name);
    BE_OBJECTS(BE_CLEAR)
#undef BE_CLEAR
    for (int v = 0; v < V_COUNT; v++)
        Py_CLEAR(be->verbs[v]);
    Py_CLEAR(be->code_220);
    Py_CLEAR(be->one);
    Py_CLEAR(be->s_write_current);
    Py_CLEAR(be->s_text);
    Py_CLEAR(be->s_add_all);
    return 0;
}

static void BuilderEvents_dealloc(BuilderEvents *be)
{
    PyObject_GC_UnTrack(be);
    BuilderEvents_clear(be);
    Py_TYPE(be)->tp_free((PyObject *)be);
}

static PyTypeObject BuilderEventsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "smtpsniff._native.fastpath.BuilderEvents",
    .tp_basicsize = sizeof(BuilderEvents),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "BuilderEvents(builder_type=, transaction_type=, shared_type=, command_type=, reply_type=, "
              "record_type=, stages=, greeting_verb=, quiet_verbs=, helo_verbs=, params_text=, auth_mechanism=): "
              "events(builder, event_list) does SessionBuilder.add_all (see smtpsniff.records.builder)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)BuilderEvents_init,
    .tp_dealloc = (destructor)BuilderEvents_dealloc,
    .tp_traverse = (traverseproc)BuilderEvents_traverse,
    .tp_clear = (inquiry)BuilderEvents_clear,
    .tp_call = BuilderEvents_tp_call,
    .tp_vectorcall_offset = offsetof(BuilderEvents, vectorcall),
};

/* ---------------------------------------------------------------------------------------------------
 * Seventh part, the SMTP decoder's (smtpsniff/smtp/conversation.py): ConversationFeed.chunks feeds a
 * conversation many deliveries of one connection, as SmtpConversation.feed_client / feed_server
 * would one at a time, with the usual lines decoded here: in the client's command mode, a
 * well-formed command line (read by the conversation's own C reader, _c_command) with nothing to
 * report, of a verb that only joins the queue of commands awaiting a reply or of MAIL, RCPT, RSET,
 * DATA or STARTTLS (_native_command and _command_sent); in the server's reply mode, a well-formed
 * reply (_c_reply) that answers the oldest of them (_server's inline code); in TLS mode, once the
 * side's hello is read, the count of its bytes (_tls_bytes).  All on the conversation's attributes;
 * every other line the C reader took goes to _native_command / _native_reply, and from anything
 * else on (another mode, a line the C reader left, a line started in an earlier chunk) the rest of
 * the delivery goes to _client or _server themselves.
 * ------------------------------------------------------------------------------------------------- */

enum { CA_CSPLIT, CA_SSPLIT, CA_CMODE, CA_SMODE, CA_C_COMMAND, CA_C_REPLY, CA_COMMAND_LONGEST, CA_REPLY_LONGEST,
       CA_REPLY_LINES_MOST, CA_PENDING, CA_GREETED, CA_CAPS_PIPELINING, CA_NEXT_INDEX, CA_REPLY, CA_AFTER_GAP,
       CA_STATE, CA_LIMIT, CA_BUFFER, CA_SKIPPING, CA_VERB, CA_STAGE, CA_INDEX, CA_APPEND, CA_POPLEFT, CA_CLIENT,
       CA_SERVER, CA_NATIVE_COMMAND, CA_NATIVE_REPLY, CA_ANSWERED, CA_MSG, CA_RCPTS, CA_LIMITS, CA_MAX_RECIPIENTS,
       CA_TLS, CA_HELLO_DONE, CA_BYTES, CA_COUNT };
static const char *const CONVERSATION_NAMES[CA_COUNT] = {
    "_csplit", "_ssplit", "_cmode", "_smode", "_c_command", "_c_reply", "_command_longest", "_reply_longest",
    "_reply_lines_most", "_pending", "_greeted", "_caps_pipelining", "_next_index", "_reply", "_after_gap",
    "_state", "limit", "buffer", "skipping", "verb", "stage", "index", "append", "popleft", "feed_client", "feed_server",
    "_native_command", "_native_reply", "_answered", "_msg", "_rcpts", "_limits", "max_recipients", "_tls",
    "hello_done", "bytes"};

/* The verbs of _SENT_MOVES whose usual lines client_line decodes (BDAT and AUTH are left to Python). */
enum { SV_MAIL, SV_RCPT, SV_RSET, SV_DATA, SV_STARTTLS, SV_COUNT, SV_QUEUED = SV_COUNT, SV_OTHER };
static const char *const SENT_VERB_NAMES[SV_COUNT] = {"MAIL", "RCPT", "RSET", "DATA", "STARTTLS"};

typedef struct {
    PyObject_HEAD
    PyTypeObject *conversation_type;
    PyObject *names[CA_COUNT];
    PyObject *queued_verbs, *command_mode, *reply_mode, *command_stage, *data_end_stage, *verb_moves, *no_moves,
        *end_moves, *state_only, *transitions, *new_command, *new_pending, *new_reply, *crlf, *auth, *code_334, *one;
    /* the verbs of _SENT_MOVES decoded here (see client_line), the DATA_START stage, the triggers of DATA
     * and STARTTLS, the TLS modes of each side and the directions (_tls's keys) */
    PyObject *verbs[SV_COUNT], *data_start_stage, *sent_data, *sent_starttls, *tls_mode[2], *direction[2];
} ConversationFeed;

/* conv.<name> (a new reference). */
#define CGET(cf, obj, which) PyObject_GetAttr((obj), (cf)->names[which])

/* The truth of conv.<name> (-1 on error). */
static int cget_true(ConversationFeed *cf, PyObject *obj, int which)
{
    PyObject *v = CGET(cf, obj, which);
    if (v == NULL)
        return -1;
    int t = PyObject_IsTrue(v);
    Py_DECREF(v);
    return t;
}

/* What a conversation sets once, in its __init__, and these functions read: its splitters (and their
 * buffers and limits), C readers, line limits and the queue of commands awaiting a reply (with its
 * append and popleft).  Read once per chunks() call. */
typedef struct {
    PyObject *split[2], *buffer[2], *limit, *reader[2], *command_longest, *reply_longest, *reply_lines_most;
    PyObject *pending, *append, *popleft, *recipients_cap; /* recipients_cap: limits.max_recipients + 1 */
} Fixed;

static void fixed_clear(Fixed *x)
{
    PyObject **all[] = {&x->split[0], &x->split[1], &x->buffer[0], &x->buffer[1], &x->limit, &x->reader[0],
                        &x->reader[1], &x->command_longest, &x->reply_longest, &x->reply_lines_most, &x->pending,
                        &x->append, &x->popleft, &x->recipients_cap};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        Py_CLEAR(*all[i]);
}

static int fixed_read(ConversationFeed *cf, PyObject *conv, Fixed *x)
{
    memset(x, 0, sizeof(*x));
    if ((x->split[0] = CGET(cf, conv, CA_CSPLIT)) == NULL || (x->split[1] = CGET(cf, conv, CA_SSPLIT)) == NULL
        || (x->buffer[0] = CGET(cf, x->split[0], CA_BUFFER)) == NULL
        || (x->buffer[1] = CGET(cf, x->split[1], CA_BUFFER)) == NULL
        || (x->limit = CGET(cf, x->split[0], CA_LIMIT)) == NULL
        || (x->reader[0] = CGET(cf, conv, CA_C_COMMAND)) == NULL || (x->reader[1] = CGET(cf, conv, CA_C_REPLY)) == NULL
        || (x->command_longest = CGET(cf, conv, CA_COMMAND_LONGEST)) == NULL
        || (x->reply_longest = CGET(cf, conv, CA_REPLY_LONGEST)) == NULL
        || (x->reply_lines_most = CGET(cf, conv, CA_REPLY_LINES_MOST)) == NULL
        || (x->pending = CGET(cf, conv, CA_PENDING)) == NULL
        || (x->append = PyObject_GetAttr(x->pending, cf->names[CA_APPEND])) == NULL
        || (x->popleft = PyObject_GetAttr(x->pending, cf->names[CA_POPLEFT])) == NULL) {
        fixed_clear(x);
        return -1;
    }
    PyObject *limits = CGET(cf, conv, CA_LIMITS), *most = limits ? CGET(cf, limits, CA_MAX_RECIPIENTS) : NULL;
    Py_XDECREF(limits);
    x->recipients_cap = most ? PyNumber_Add(most, cf->one) : NULL;
    Py_XDECREF(most);
    if (x->recipients_cap == NULL) {
        fixed_clear(x);
        return -1;
    }
    if (!PyByteArray_CheckExact(x->buffer[0]) || !PyByteArray_CheckExact(x->buffer[1])) {
        PyErr_SetString(PyExc_TypeError, "a line splitter's buffer is no bytearray");
        fixed_clear(x);
        return -1;
    }
    return 0;
}

/* Whether splitter `side` (0 client, 1 server) is between lines: not skipping a cut line's tail,
 * nothing buffered (-1 on error). */
static int splitter_idle(ConversationFeed *cf, Fixed *x, int side)
{
    if (PyByteArray_GET_SIZE(x->buffer[side]) != 0)
        return 0;
    int skipping = cget_true(cf, x->split[side], CA_SKIPPING);
    return skipping < 0 ? -1 : !skipping;
}

/* conv.<which> = TRANSITIONS.get((conv.<which>, trigger), conv.<which>): states.advance on one of the
 * conversation's states (-1 on error). */
static int advance_attr(ConversationFeed *cf, PyObject *conv, int which, PyObject *trigger)
{
    PyObject *now = CGET(cf, conv, which), *key = NULL, *moved = NULL;
    int bad = now == NULL || (key = PyTuple_Pack(2, now, trigger)) == NULL;
    if (!bad) {
        moved = PyDict_GetItemWithError(cf->transitions, key);
        bad = (moved == NULL && PyErr_Occurred()) || PyObject_SetAttr(conv, cf->names[which], moved ? moved : now) < 0;
    }
    Py_XDECREF(now);
    Py_XDECREF(key);
    return bad ? -1 : 0;
}

/* conv.feed_client or feed_server (data, pos, ts, frame, out): the rest of a delivery in Python (for
 * SmtpConversation, _client or _server). */
static int feed_rest(ConversationFeed *cf, PyObject *conv, int which, PyObject *data, Py_ssize_t pos,
                     PyObject *ts, PyObject *frame, PyObject *out)
{
    PyObject *p = PyLong_FromSsize_t(pos);
    if (p == NULL)
        return -1;
    PyObject *args[6] = {conv, data, p, ts, frame, out};
    int bad = call_method(cf->names[which], args, 6);
    Py_DECREF(p);
    return bad;
}

/* reader(data, pos, a, b) of side (0: the command reader, 1: the reply reader), or None when the
 * conversation has none (a new reference). */
static PyObject *read_line(Fixed *x, int side, PyObject *data, Py_ssize_t pos, PyObject *a, PyObject *b)
{
    if (x->reader[side] == Py_None)
        return Py_NewRef(Py_None);
    PyObject *p = PyLong_FromSsize_t(pos);
    if (p == NULL)
        return NULL;
    PyObject *args[4] = {data, p, a, b};
    PyObject *r = PyObject_Vectorcall(x->reader[side], args, 4, NULL);
    Py_DECREF(p);
    return r;
}

/* _tls_bytes of n octets of `side` (0 client, 1 server) in TLS mode once that side's hello is read: only
 * counted.  1 when counted, 0 when Python is to read them (no hello read yet), -1 on error. */
static int tls_count(ConversationFeed *cf, PyObject *conv, int side, Py_ssize_t n)
{
    PyObject *tls = CGET(cf, conv, CA_TLS), *one_side = NULL, *had = NULL, *now = NULL, *count = NULL;
    int done = -1;
    if (tls == NULL)
        return -1;
    if (tls == Py_None || !PyDict_CheckExact(tls)) {
        Py_DECREF(tls);
        return 0;
    }
    one_side = PyDict_GetItemWithError(tls, cf->direction[side]);
    if (one_side == NULL) {
        done = PyErr_Occurred() ? -1 : 0;
        goto out;
    }
    Py_INCREF(one_side);
    if ((done = cget_true(cf, one_side, CA_HELLO_DONE)) <= 0)
        goto out;
    done = -1;
    if ((had = CGET(cf, one_side, CA_BYTES)) == NULL || (count = PyLong_FromSsize_t(n)) == NULL
        || (now = PyNumber_Add(had, count)) == NULL || PyObject_SetAttr(one_side, cf->names[CA_BYTES], now) < 0)
        goto out;
    done = 1;
out:
    Py_DECREF(tls);
    Py_XDECREF(one_side);
    Py_XDECREF(had);
    Py_XDECREF(now);
    Py_XDECREF(count);
    return done;
}

/* The next line of side 0 (client) or 1 (server) at data[*pos:] the usual way decodes: the
 * conversation's C reader's tuple of its pieces (a new reference in *parsed), read when the side is
 * in command or reply mode (the server with no reply begun), its splitter between lines.  1: a line;
 * 0: none, the rest of the delivery is Python's (*pos moved to the end when it was TLS bytes, only
 * counted); -1: an error. */
static int next_line(ConversationFeed *cf, PyObject *conv, Fixed *x, int side, PyObject *data, Py_ssize_t *pos,
                     PyObject **parsed)
{
    PyObject *mode = CGET(cf, conv, side ? CA_SMODE : CA_CMODE);
    if (mode == NULL)
        return -1;
    Py_DECREF(mode); /* compared by identity: the enum member outlives this */
    if (mode == cf->tls_mode[side]) {
        int counted = tls_count(cf, conv, side, PyBytes_GET_SIZE(data) - *pos);
        if (counted > 0)
            *pos = PyBytes_GET_SIZE(data);
        return counted < 0 ? -1 : 0;
    }
    if (mode != (side ? cf->reply_mode : cf->command_mode))
        return 0;
    if (side) {
        PyObject *reply = CGET(cf, conv, CA_REPLY);
        if (reply == NULL)
            return -1;
        Py_DECREF(reply);
        if (reply != Py_None)
            return 0;
    }
    int idle = splitter_idle(cf, x, side);
    if (idle <= 0)
        return idle;
    PyObject *line = side ? read_line(x, 1, data, *pos, x->reply_longest, x->reply_lines_most)
                          : read_line(x, 0, data, *pos, x->limit, x->command_longest);
    if (line == NULL)
        return -1;
    if (line == Py_None) {
        Py_DECREF(line);
        return 0;
    }
    if (!PyTuple_CheckExact(line) || PyTuple_GET_SIZE(line) != (side ? 7 : 8)) {
        Py_DECREF(line);
        PyErr_SetString(PyExc_TypeError, "a C line reader gave no tuple of its pieces");
        return -1;
    }
    *parsed = line;
    return 1;
}

/* One line of the client in command mode, read by the C reader into `parsed`: decoded here when it is
 * usual, else by _native_command (-1 on error). */
static int client_line(ConversationFeed *cf, PyObject *conv, Fixed *x, PyObject *parsed, PyObject *ts,
                       PyObject *frame, PyObject *out)
{
    PyObject *verb = PyTuple_GET_ITEM(parsed, 2), *arg = PyTuple_GET_ITEM(parsed, 3), *pending = x->pending;
    PyObject *rcpts = NULL; /* RCPT: the transaction's recipients with this one */
    int kind = SV_OTHER, usual = PySet_Contains(cf->queued_verbs, verb), queued = 0;
    if (usual > 0)
        kind = SV_QUEUED;
    for (int v = 0; usual == 0 && v < SV_COUNT; v++) {
        if ((usual = PyObject_RichCompareBool(verb, cf->verbs[v], Py_EQ)) > 0)
            kind = v;
    }
    if (usual > 0)
        usual = cget_true(cf, conv, CA_GREETED);
    if (usual > 0 && (queued = PyObject_IsTrue(pending)) != 0) {
        if (queued < 0)
            usual = -1;
        else {
            PyObject *caps = CGET(cf, conv, CA_CAPS_PIPELINING);
            usual = caps == NULL ? -1 : caps != Py_False;
            Py_XDECREF(caps);
        }
    }
    /* What _command_sent would report or do more is left to _native_command: a BDAT message to
     * abandon (MAIL, RSET), the recipient past max_recipients, DATA with an argument. */
    if (usual > 0 && (kind == SV_MAIL || kind == SV_RSET)) {
        PyObject *msg = CGET(cf, conv, CA_MSG);
        usual = msg == NULL ? -1 : msg == Py_None;
        Py_XDECREF(msg);
    } else if (usual > 0 && kind == SV_RCPT) {
        PyObject *had = CGET(cf, conv, CA_RCPTS);
        rcpts = had ? PyNumber_Add(had, cf->one) : NULL;
        Py_XDECREF(had);
        usual = rcpts == NULL ? -1 : PyObject_RichCompareBool(rcpts, x->recipients_cap, Py_NE);
    } else if (usual > 0 && kind == SV_DATA) {
        usual = PyObject_Not(arg);
    }
    int bad = usual < 0;
    if (usual > 0) {
        /* _native_command of a command with nothing to report, and _command_sent's moves */
        PyObject *index = CGET(cf, conv, CA_NEXT_INDEX), *following = NULL, *command = NULL, *slot = NULL;
        bad = index == NULL || (following = PyNumber_Add(index, cf->one)) == NULL
              || PyObject_SetAttr(conv, cf->names[CA_NEXT_INDEX], following) < 0;
        if (!bad) {
            PyObject **f = &PyTuple_GET_ITEM(parsed, 0); /* pos, raw, verb, arg, address, address_raw, params, decoded */
            PyObject *args[14] = {index, verb, f[3], f[1], Py_True, f[6], f[7], f[4], f[5],
                                  queued ? Py_True : Py_False, cf->crlf, ts, frame, frame};
            command = PyObject_Vectorcall(cf->new_command, args, 14, NULL);
            bad = command == NULL || PyList_Append(out, command) < 0;
        }
        if (!bad) {
            PyObject *stage = kind == SV_DATA ? cf->data_start_stage : cf->command_stage;
            PyObject *args[5] = {index, verb, stage, ts, frame};
            slot = PyObject_Vectorcall(cf->new_pending, args, 5, NULL);
            PyObject *r = slot == NULL ? NULL : PyObject_CallOneArg(x->append, slot);
            bad = r == NULL;
            Py_XDECREF(r);
        }
        if (!bad && (kind == SV_MAIL || kind == SV_RCPT)) {
            PyObject *count = kind == SV_RCPT ? Py_NewRef(rcpts) : PyLong_FromLong(0);
            bad = count == NULL || PyObject_SetAttr(conv, cf->names[CA_RCPTS], count) < 0;
            Py_XDECREF(count);
        } else if (!bad && (kind == SV_DATA || kind == SV_STARTTLS)) {
            bad = advance_attr(cf, conv, CA_CMODE, kind == SV_DATA ? cf->sent_data : cf->sent_starttls) < 0;
        }
        Py_XDECREF(index);
        Py_XDECREF(following);
        Py_XDECREF(command);
        Py_XDECREF(slot);
    } else if (!bad) {
        PyObject *call[5] = {conv, parsed, ts, frame, out};
        bad = call_method(cf->names[CA_NATIVE_COMMAND], call, 5) < 0;
    }
    Py_XDECREF(rcpts);
    return bad ? -1 : 0;
}

/* One reply of the server in reply mode, read by the C reader into `parsed`: dispatched here when it
 * answers the oldest command awaiting one (no AUTH challenge), else by _native_reply (-1 on error). */
static int server_line(ConversationFeed *cf, PyObject *conv, Fixed *x, PyObject *parsed, PyObject *ts,
                       PyObject *frame, PyObject *out)
{
    /* pos, code, lines, text, raw, enhanced, class_mismatch */
    PyObject **f = &PyTuple_GET_ITEM(parsed, 0);
    PyObject *pending = x->pending, *slot = NULL, *verb = NULL, *stage = NULL, *index = NULL;
    int bad = 0, done = 0;
    int usual = PyObject_IsTrue(pending);
    if (usual > 0)
        usual = cget_true(cf, conv, CA_GREETED);
    if (usual > 0) {
        int mismatch = PyObject_IsTrue(f[6]);
        usual = mismatch < 0 ? -1 : !mismatch;
    }
    if (usual > 0) {
        /* the usual reply: it answers the oldest command awaiting one, and is no AUTH challenge */
        slot = PySequence_GetItem(pending, 0);
        verb = slot ? PyObject_GetAttr(slot, cf->names[CA_VERB]) : NULL;
        stage = verb ? PyObject_GetAttr(slot, cf->names[CA_STAGE]) : NULL;
        if (stage == NULL)
            usual = -1;
        else {
            int challenge = PyObject_RichCompareBool(f[1], cf->code_334, Py_EQ);
            if (challenge > 0)
                challenge = PyObject_RichCompareBool(verb, cf->auth, Py_EQ);
            if (challenge > 0)
                challenge = stage == cf->command_stage;
            usual = challenge < 0 ? -1 : !challenge;
        }
    }
    bad = usual < 0;
    if (usual > 0) {
        PyObject *r = PyObject_CallNoArgs(x->popleft), *after_gap = NULL;
        PyObject *reply_event = NULL;
        bad = r == NULL || (index = PyObject_GetAttr(slot, cf->names[CA_INDEX])) == NULL
              || (after_gap = CGET(cf, conv, CA_AFTER_GAP)) == NULL
              || PyObject_SetAttr(conv, cf->names[CA_AFTER_GAP], Py_False) < 0;
        Py_XDECREF(r);
        if (!bad) {
            Py_ssize_t n_lines = PyObject_Size(f[2]);
            PyObject *args[14] = {f[1], f[5], f[2], f[3], f[4], index, verb, stage, n_lines > 1 ? Py_True : Py_False,
                                  Py_True, after_gap, ts, frame, frame};
            bad = n_lines < 0 || (reply_event = PyObject_Vectorcall(cf->new_reply, args, 14, NULL)) == NULL
                  || PyList_Append(out, reply_event) < 0;
        }
        Py_XDECREF(after_gap);
        Py_XDECREF(reply_event);
        if (!bad) {
            /* _answered's look-up of what the reply moves: most move nothing or the session state alone */
            PyObject *moves = NULL, *trigger = NULL;
            if (stage == cf->command_stage) {
                moves = PyDict_GetItemWithError(cf->verb_moves, verb);
                if (moves == NULL && !PyErr_Occurred())
                    moves = cf->no_moves;
            } else if (stage == cf->data_end_stage)
                moves = cf->end_moves;
            else
                moves = Py_None;
            if (moves == NULL)
                bad = 1;
            else if (moves != Py_None) {
                if (!PyTuple_CheckExact(moves) || PyTuple_GET_SIZE(moves) != 2
                    || !PyDict_CheckExact(PyTuple_GET_ITEM(moves, 0))) {
                    PyErr_SetString(PyExc_TypeError, "reply moves must be (dict, default) pairs");
                    bad = 1;
                } else {
                    trigger = PyDict_GetItemWithError(PyTuple_GET_ITEM(moves, 0), f[1]);
                    if (trigger == NULL && !PyErr_Occurred())
                        trigger = PyTuple_GET_ITEM(moves, 1);
                    if (trigger == NULL)
                        bad = 1;
                    else if (trigger == Py_None)
                        done = 1;
                    else {
                        int only = PySet_Contains(cf->state_only, trigger);
                        if (only < 0)
                            bad = 1;
                        else if (only) {
                            bad = advance_attr(cf, conv, CA_STATE, trigger) < 0;
                            done = 1;
                        }
                    }
                }
            }
        }
        if (!bad && !done) {
            PyObject *call[7] = {conv, slot, f[1], f[2], ts, frame, out};
            bad = call_method(cf->names[CA_ANSWERED], call, 7) < 0;
        }
    } else if (!bad) {
        PyObject *call[5] = {conv, parsed, ts, frame, out};
        bad = call_method(cf->names[CA_NATIVE_REPLY], call, 5) < 0;
    }
    Py_XDECREF(slot);
    Py_XDECREF(verb);
    Py_XDECREF(stage);
    Py_XDECREF(index);
    return bad ? -1 : 0;
}

/* SmtpConversation._client (side 0) or _server (side 1) of (data, 0, ts, frame, out): the usual lines
 * here, line by line, and from the first other one on the rest of the delivery in Python. */
static int feed_side(ConversationFeed *cf, PyObject *conv, Fixed *x, int side, PyObject *data, PyObject *ts,
                     PyObject *frame, PyObject *out)
{
    Py_ssize_t pos = 0, end = PyBytes_GET_SIZE(data);
    while (pos < end) {
        PyObject *parsed = NULL;
        int found = next_line(cf, conv, x, side, data, &pos, &parsed);
        if (found <= 0) {
            if (found < 0)
                return -1;
            break;
        }
        Py_ssize_t next = PyLong_AsSsize_t(PyTuple_GET_ITEM(parsed, 0));
        int bad = (next < 0 && PyErr_Occurred())
                  || (side ? server_line(cf, conv, x, parsed, ts, frame, out)
                           : client_line(cf, conv, x, parsed, ts, frame, out)) < 0;
        Py_DECREF(parsed);
        if (bad)
            return -1;
        pos = next;
    }
    return pos < end ? feed_rest(cf, conv, side ? CA_SERVER : CA_CLIENT, data, pos, ts, frame, out) : 0;
}

PyDoc_STRVAR(ConversationFeed_chunks_doc,
"chunks(conversation, directions, parts, times, out, most, hand_over)\n\n"
"Feed each delivery of a StreamChunks (directions: a byte per part, 0 client to server; parts: the\n"
"bytes; times: three int64 per part, the third and second being its frame and ts_ns) to the\n"
"conversation as feed_client / feed_server would, the events appended to out; hand_over() is\n"
"called after a delivery that leaves at least `most` events in out.  A conversation of another\n"
"class than the one this was made for is fed through its own feed_client / feed_server.");

static PyObject *ConversationFeed_chunks(ConversationFeed *cf, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 7 || !PyBytes_Check(args[1]) || !PyTuple_Check(args[2]) || !PyBytes_Check(args[3])
        || !PyList_Check(args[4])) {
        PyErr_SetString(PyExc_TypeError,
                        "chunks(conversation, directions: bytes, parts: tuple, times: bytes, out: list, most, hand_over)");
        return NULL;
    }
    if (cf->conversation_type == NULL) {
        PyErr_SetString(PyExc_TypeError, "ConversationFeed not initialised");
        return NULL;
    }
    PyObject *conv = args[0], *parts = args[2], *out = args[4], *hand_over = args[6];
    Py_ssize_t n = PyTuple_GET_SIZE(parts), most = PyLong_AsSsize_t(args[5]);
    if (most < 0 && PyErr_Occurred())
        return NULL;
    if (PyBytes_GET_SIZE(args[1]) != n || PyBytes_GET_SIZE(args[3]) != n * 3 * (Py_ssize_t)sizeof(long long)) {
        PyErr_SetString(PyExc_ValueError, "directions, parts and times disagree on the number of parts");
        return NULL;
    }
    const unsigned char *dirs = (const unsigned char *)PyBytes_AS_STRING(args[1]);
    int ours = Py_IS_TYPE(conv, cf->conversation_type);
    Fixed x;
    if (ours && fixed_read(cf, conv, &x) < 0)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        long long meta[3];
        memcpy(meta, PyBytes_AS_STRING(args[3]) + i * (Py_ssize_t)sizeof(meta), sizeof(meta));
        PyObject *data = PyTuple_GET_ITEM(parts, i), *ts = PyLong_FromLongLong(meta[1]);
        PyObject *frame = ts ? PyLong_FromLongLong(meta[2]) : NULL;
        int bad = frame == NULL;
        if (!bad) {
            Py_INCREF(data);
            if (!ours || !PyBytes_CheckExact(data))
                bad = feed_rest(cf, conv, dirs[i] ? CA_SERVER : CA_CLIENT, data, 0, ts, frame, out) < 0;
            else
                bad = feed_side(cf, conv, &x, dirs[i] != 0, data, ts, frame, out) < 0;
            Py_DECREF(data);
        }
        Py_XDECREF(ts);
        Py_XDECREF(frame);
        if (!bad && PyList_GET_SIZE(out) >= most) {
            PyObject *r = PyObject_CallNoArgs(hand_over);
            bad = r == NULL;
            Py_XDECREF(r);
        }
        if (bad) {
            if (ours)
                fixed_clear(&x);
            return NULL;
        }
    }
    if (ours)
        fixed_clear(&x);
    Py_RETURN_NONE;
}

static int ConversationFeed_init(ConversationFeed *cf, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"conversation_type", "queued_verbs", "command_mode", "reply_mode", "command_stage",
                             "data_end_stage", "verb_moves", "no_moves", "end_moves", "state_only", "transitions",
                             "new_command", "new_pending", "new_reply", "data_start_stage", "sent_data",
                             "sent_starttls", "tls_modes", "directions", NULL};
    PyObject *type, *queued, *command_mode, *reply_mode, *command_stage, *data_end, *verb_moves, *no_moves, *end_moves,
        *state_only, *transitions, *new_command, *new_pending, *new_reply, *data_start, *sent_data, *sent_starttls,
        *tls_modes, *directions;
    if (cf->conversation_type != NULL) {
        PyErr_SetString(PyExc_TypeError, "ConversationFeed is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!OOOOO!OOO!O!OOOOOOO!O!:ConversationFeed", kwlist,
                                     &PyType_Type, &type, &PyFrozenSet_Type, &queued, &command_mode, &reply_mode,
                                     &command_stage, &data_end, &PyDict_Type, &verb_moves, &no_moves, &end_moves,
                                     &PyFrozenSet_Type, &state_only, &PyDict_Type, &transitions, &new_command,
                                     &new_pending, &new_reply, &data_start, &sent_data, &sent_starttls, &PyTuple_Type,
                                     &tls_modes, &PyTuple_Type, &directions))
        return -1;
    if (PyTuple_GET_SIZE(tls_modes) != 2 || PyTuple_GET_SIZE(directions) != 2) {
        PyErr_SetString(PyExc_ValueError, "tls_modes and directions: (client's, server's)");
        return -1;
    }
    for (int v = 0; v < SV_COUNT; v++)
        if ((cf->verbs[v] = PyUnicode_InternFromString(SENT_VERB_NAMES[v])) == NULL)
            return -1;
    for (int i = 0; i < 2; i++) {
        cf->tls_mode[i] = Py_NewRef(PyTuple_GET_ITEM(tls_modes, i));
        cf->direction[i] = Py_NewRef(PyTuple_GET_ITEM(directions, i));
    }
    cf->data_start_stage = Py_NewRef(data_start);
    cf->sent_data = Py_NewRef(sent_data);
    cf->sent_starttls = Py_NewRef(sent_starttls);
    for (int i = 0; i < CA_COUNT; i++)
        if ((cf->names[i] = PyUnicode_InternFromString(CONVERSATION_NAMES[i])) == NULL)
            return -1;
    if ((cf->crlf = PyBytes_FromStringAndSize("\r\n", 2)) == NULL || (cf->auth = PyUnicode_InternFromString("AUTH")) == NULL
        || (cf->code_334 = PyLong_FromLong(334)) == NULL || (cf->one = PyLong_FromLong(1)) == NULL)
        return -1;
    cf->queued_verbs = Py_NewRef(queued);
    cf->command_mode = Py_NewRef(command_mode);
    cf->reply_mode = Py_NewRef(reply_mode);
    cf->command_stage = Py_NewRef(command_stage);
    cf->data_end_stage = Py_NewRef(data_end);
    cf->verb_moves = Py_NewRef(verb_moves);
    cf->no_moves = Py_NewRef(no_moves);
    cf->end_moves = Py_NewRef(end_moves);
    cf->state_only = Py_NewRef(state_only);
    cf->transitions = Py_NewRef(transitions);
    cf->new_command = Py_NewRef(new_command);
    cf->new_pending = Py_NewRef(new_pending);
    cf->new_reply = Py_NewRef(new_reply);
    cf->conversation_type = (PyTypeObject *)Py_NewRef(type);
    return 0;
}

#define CF_OBJECTS(X) X(queued_verbs) X(command_mode) X(reply_mode) X(command_stage) X(data_end_stage) \
    X(verb_moves) X(no_moves) X(end_moves) X(state_only) X(transitions) X(new_command) X(new_pending) X(new_reply) \
    X(data_start_stage) X(sent_data) X(sent_starttls) X(tls_mode[0]) X(tls_mode[1]) X(direction[0]) X(direction[1])

static int ConversationFeed_traverse(ConversationFeed *cf, visitproc visit, void *arg)
{
#define CF_VISIT(name) Py_VISIT(cf->name);
    CF_OBJECTS(CF_VISIT)
#undef CF_VISIT
    Py_VISIT(cf->conversation_type);
    return 0;
}

static int ConversationFeed_clear(ConversationFeed *cf)
{
#define CF_CLEAR(name) Py_CLEAR(cf->name);
    CF_OBJECTS(CF_CLEAR)
#undef CF_CLEAR
    Py_CLEAR(cf->conversation_type);
    for (int i = 0; i < CA_COUNT; i++)
        Py_CLEAR(cf->names[i]);
    Py_CLEAR(cf->crlf);
    Py_CLEAR(cf->auth);
    Py_CLEAR(cf->code_334);
    Py_CLEAR(cf->one);
    for (int v = 0; v < SV_COUNT; v++)
        Py_CLEAR(cf->verbs[v]);
    return 0;
}

static void ConversationFeed_dealloc(ConversationFeed *cf)
{
    PyObject_GC_UnTrack(cf);
    ConversationFeed_clear(cf);
    Py_TYPE(cf)->tp_free((PyObject *)cf);
}

static PyMethodDef ConversationFeed_methods[] = {
    {"chunks", (PyCFunction)(void (*)(void))ConversationFeed_chunks, METH_FASTCALL, ConversationFeed_chunks_doc},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject ConversationFeedType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "smtpsniff._native.fastpath.ConversationFeed",
    .tp_basicsize = sizeof(ConversationFeed),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "ConversationFeed(conversation_type=, queued_verbs=, command_mode=, reply_mode=, command_stage=, "
              "data_end_stage=, verb_moves=, no_moves=, end_moves=, state_only=, transitions=, new_command=, "
              "new_pending=, new_reply=, data_start_stage=, sent_data=, sent_starttls=, tls_modes=, directions=): "
              "feeds SmtpConversation deliveries with its usual lines decoded in C "
              "(see smtpsniff.smtp.conversation)",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)ConversationFeed_init,
    .tp_dealloc = (destructor)ConversationFeed_dealloc,
    .tp_traverse = (traverseproc)ConversationFeed_traverse,
    .tp_clear = (inquiry)ConversationFeed_clear,
    .tp_methods = ConversationFeed_methods,
};

static PyMethodDef fastpath_functions[] = {
    {"smtp_command", (PyCFunction)(void (*)(void))smtp_command, METH_FASTCALL, smtp_command_doc},
    {"smtp_reply", (PyCFunction)(void (*)(void))smtp_reply, METH_FASTCALL, smtp_reply_doc},
    {"smtp_content", (PyCFunction)(void (*)(void))smtp_content, METH_FASTCALL, smtp_content_doc},
    {"smtp_ehlo", (PyCFunction)smtp_ehlo, METH_O, smtp_ehlo_doc},
    {"mail_line_ends", (PyCFunction)mail_line_ends, METH_O, mail_line_ends_doc},
    {"slot_columns", (PyCFunction)(void (*)(void))slot_columns, METH_FASTCALL, slot_columns_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "smtpsniff._native.fastpath",
    .m_doc = "Classic pcap records to TCP segments, and well-formed SMTP commands and replies, in C "
             "(see smtpsniff.net.native).",
    .m_size = -1,
    .m_methods = fastpath_functions,
};

PyMODINIT_FUNC PyInit_fastpath(void)
{
    if (PyType_Ready(&CutterType) < 0 || PyType_Ready(&FastFlowsType) < 0 || PyType_Ready(&SlotBuilderType) < 0
        || PyType_Ready(&BuilderEventsType) < 0 || PyType_Ready(&ConversationFeedType) < 0
        || shared_text_init() < 0)
        return NULL;
    PyObject *m = PyModule_Create(&fastpath_module);
    if (m == NULL)
        return NULL;
    /* each type under its own name (the part of tp_name after the last dot) */
    PyTypeObject *types[] = {&CutterType, &FastFlowsType, &SlotBuilderType, &BuilderEventsType, &ConversationFeedType};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (PyModule_AddType(m, types[i]) < 0) {
            Py_DECREF(m);
            return NULL;
        }
    if (PyModule_AddIntConstant(m, "COUNTERS", C_COUNT) < 0 ||
        PyModule_AddIntConstant(m, "INTERFACE", FASTPATH_INTERFACE) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
