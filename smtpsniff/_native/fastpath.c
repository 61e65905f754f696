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
 * TCP connections whose in-order segments and pure ACKs the Cutter, when handed the table, turns
 * into the stream events the Python reassembler would build (see the comment above FastFlows).
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
 * one done (every byte before it delivered), no unresolved acknowledgement.  For such a flow a segment without SYN/FIN/RST, not cut by the snaplen, whose
 * payload (if any) starts exactly at the next expected byte and whose ACK does not acknowledge
 * bytes the peer has not been seen sending, is handled here exactly as feed() would: the bytes
 * become the StreamData feed() would build, the activity (time, frame, packets, LRU order) and the
 * retained window of recent bytes are kept, the counters counted.  For an ignored connection
 * (TcpReassembler.ignore) any segment without SYN/FIN/RST is only counted.  Anything else
 * "freezes" the flow: from then on its segments go to Python, which takes the flow's state back
 * ("pull") before handling the first of them.  At the idle sweeps feed_batch runs every
 * EXPIRE_EVERY_FRAMES records, flows idle for the idle timeout are frozen too and reported, so the
 * reassembler expires them at the same record as the pure-Python path does.
 * ------------------------------------------------------------------------------------------- */

enum { FLOW_FREE = 0, FLOW_FAST = 1, FLOW_FROZEN = 2 };
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
} FlowDir;

typedef struct {
    int state, ignored;
    PyObject *conn, *conn_id;
    FlowDir dir[2]; /* 0: the client's bytes (c2s), 1: the server's (s2c) */
    long long last_ts, last_frame, packets;
    int prev, next; /* LRU list of FAST flows, least recently active first; -1: none */
    int next_free;
    int addr_len;
    unsigned char client[16], server[16];
    unsigned client_port, server_port;
} Flow;

typedef struct {
    int flow; /* index into flows, SLOT_EMPTY or SLOT_DELETED */
    int side; /* 0: the key is client -> server */
    uint32_t hash;
} Slot;

typedef struct {
    PyObject_HEAD
    PyTypeObject *data_type;
    Py_ssize_t data_off[7];
    PyObject *dir_obj[2];
    long long retain, retain_trim, idle_timeout;
    Flow *flows;
    int flows_cap, free_head, in_use, fast;
    Slot *slots;
    size_t slots_cap, slots_used; /* used counts deleted slots too */
    int lru_head, lru_tail;
    long long segments, bytes_delivered, ignored_packets; /* since the last counters() */
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

static Slot *find_slot(FastFlows *f, uint32_t h, const unsigned char *src, const unsigned char *dst, int len,
                       unsigned sport, unsigned dport)
{
    if (f->slots_cap == 0)
        return NULL;
    size_t mask = f->slots_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        Slot *s = &f->slots[i];
        if (s->flow == SLOT_EMPTY)
            return NULL;
        if (s->flow >= 0 && s->hash == h && slot_matches(f, s, src, dst, len, sport, dport))
            return s;
    }
}

static void put_slot(FastFlows *f, int flow, int side, uint32_t h)
{
    size_t mask = f->slots_cap - 1;
    size_t i = h & mask;
    while (f->slots[i].flow >= 0)
        i = (i + 1) & mask;
    if (f->slots[i].flow == SLOT_EMPTY)
        f->slots_used++;
    f->slots[i].flow = flow;
    f->slots[i].side = side;
    f->slots[i].hash = h;
}

static uint32_t side_hash(const Flow *fl, int side)
{
    return side == 0 ? flow_hash(fl->client, fl->server, fl->addr_len, fl->client_port, fl->server_port)
                     : flow_hash(fl->server, fl->client, fl->addr_len, fl->server_port, fl->client_port);
}

/* Room for two more slots, at most half full (deleted slots included): rebuild when needed. */
static int reserve_slots(FastFlows *f)
{
    if ((f->slots_used + 2) * 2 <= f->slots_cap)
        return 0;
    size_t cap = 64;
    while (cap < ((size_t)f->in_use + 1) * 8)
        cap <<= 1;
    Slot *slots = PyMem_Malloc(cap * sizeof(Slot));
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (size_t i = 0; i < cap; i++)
        slots[i].flow = SLOT_EMPTY;
    PyMem_Free(f->slots);
    f->slots = slots;
    f->slots_cap = cap;
    f->slots_used = 0;
    for (int i = 0; i < f->flows_cap; i++) {
        if (f->flows[i].state != FLOW_FREE) {
            put_slot(f, i, 0, side_hash(&f->flows[i], 0));
            put_slot(f, i, 1, side_hash(&f->flows[i], 1));
        }
    }
    return 0;
}

static void drop_slot(FastFlows *f, int idx, int side)
{
    const Flow *fl = &f->flows[idx];
    uint32_t h = side_hash(fl, side);
    size_t mask = f->slots_cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        Slot *s = &f->slots[i];
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

/* A new StreamData from 7 new references (stolen, NULLs allowed: then NULL is returned). */
static PyObject *new_stream_data(FastFlows *f, PyObject **vals)
{
    PyObject *obj = NULL;
    for (int i = 0; i < 7; i++)
        if (vals[i] == NULL)
            goto fail;
    obj = f->data_type->tp_alloc(f->data_type, 0);
    if (obj == NULL)
        goto fail;
    for (int i = 0; i < 7; i++)
        *(PyObject **)((char *)obj + f->data_off[i]) = vals[i];
    /* ints, bytes, an enum member and a tuple of ints inside, frozen: never part of a cycle */
    if (PyObject_GC_IsTracked(obj))
        PyObject_GC_UnTrack(obj);
    return obj;
fail:
    for (int i = 0; i < 7; i++)
        Py_XDECREF(vals[i]);
    return NULL;
}

/* stream.py: recent += data; trimmed to `retain` bytes once longer than `retain_trim`. */
static int recent_append(FastFlows *f, PyObject *ba, const unsigned char *p, Py_ssize_t n)
{
    Py_ssize_t old = PyByteArray_GET_SIZE(ba);
    if (PyByteArray_Resize(ba, old + n) < 0)
        return -1;
    memcpy(PyByteArray_AS_STRING(ba) + old, p, (size_t)n);
    Py_ssize_t len = old + n;
    if (len > f->retain_trim) {
        char *b = PyByteArray_AS_STRING(ba);
        memmove(b, b + (len - f->retain), (size_t)f->retain);
        if (PyByteArray_Resize(ba, (Py_ssize_t)f->retain) < 0)
            return -1;
    }
    return 0;
}

/* The segment decoded in `r`: 1 handled here (*item: a new reference to what replaces the segment
 * in the batch: the StreamData, the flow's connection object for a pure ACK, None for a packet of an
 * ignored connection), 0 Python's job (the flow, if FAST, is frozen), -1 error. */
static int fast_segment(FastFlows *f, const unsigned char *d, const Decoded *r, long number, long long ts,
                        PyObject **item)
{
    const unsigned char *t = d + r->t;
    const unsigned char *src = r->src, *dst = r->src + r->addr_len;
    unsigned sport = be16(t), dport = be16(t + 2);
    Slot *s = find_slot(f, flow_hash(src, dst, r->addr_len, sport, dport), src, dst, r->addr_len, sport, dport);
    if (s == NULL)
        return 0;
    int idx = s->flow, side = s->side;
    Flow *fl = &f->flows[idx];
    if (fl->state != FLOW_FAST)
        return 0;
    unsigned flags = be16(t + 12) & 0x0FFF;
    if (flags & (T_SYN | T_FIN | T_RST)) {
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
        /* An ACK past the bytes of a peer whose FIN is in and done acknowledges at most that FIN:
         * nothing to do (stream.py Stream.ack).  Data after this side's own FIN is Python's. */
        if (r->avail < r->end || (plen && (me->fin || seq != me->nxt_seq)) ||
            (!peer->fin && (flags & T_ACK) && acked && acked < SEQ_HALF)) {
            freeze(f, idx);
            return 0;
        }
        if (plen) {
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
            PyObject *data = new_stream_data(f, vals); /* steals `frame`; the tuple holds its own reference */
            if (data == NULL)
                return -1;
            if (me->recent != NULL && recent_append(f, me->recent, d + r->p, plen) < 0) {
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
    if (f->lru_tail != idx) {
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
    int ignored, c_fin, s_fin;
    const char *cip, *sip;
    unsigned int cport, sport;
    long long c_nxt, s_nxt, last_ts, last_frame;
    unsigned long c_seq, s_seq;
    if (!PyArg_ParseTuple(args, "OOpsIsILkOpLkOpLL", &conn, &conn_id, &ignored, &cip, &cport, &sip, &sport, &c_nxt,
                          &c_seq, &c_recent, &c_fin, &s_nxt, &s_seq, &s_recent, &s_fin, &last_ts, &last_frame))
        return NULL;
    unsigned char client[16], server[16];
    int clen = parse_addr(cip, client), slen = parse_addr(sip, server);
    if (clen < 0 || slen < 0)
        return NULL;
    if (clen != slen) {
        PyErr_SetString(PyExc_ValueError, "client and server addresses of different families");
        return NULL;
    }
    if (find_slot(f, flow_hash(client, server, clen, cport & 0xFFFF, sport & 0xFFFF), client, server, clen,
                  cport & 0xFFFF, sport & 0xFFFF) != NULL) {
        PyErr_SetString(PyExc_ValueError, "a flow with this 4-tuple is already held");
        return NULL;
    }
    if (reserve_slots(f) < 0)
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
    fl->conn = Py_NewRef(conn);
    fl->conn_id = Py_NewRef(conn_id);
    fl->dir[0] = (FlowDir){recents[0], c_nxt, (uint32_t)c_seq, 0, c_fin};
    fl->dir[1] = (FlowDir){recents[1], s_nxt, (uint32_t)s_seq, 0, s_fin};
    fl->last_ts = last_ts;
    fl->last_frame = last_frame;
    fl->addr_len = clen;
    memcpy(fl->client, client, (size_t)clen);
    memcpy(fl->server, server, (size_t)clen);
    fl->client_port = cport & 0xFFFF;
    fl->server_port = sport & 0xFFFF;
    put_slot(f, idx, 0, side_hash(fl, 0));
    put_slot(f, idx, 1, side_hash(fl, 1));
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

/* pull(handle) -> (last_ts, last_frame, packets, c2s nxt, nxt_seq, delivered, s2c nxt, nxt_seq, delivered);
 * the flow is forgotten.  packets and delivered count what happened here since add(). */
static PyObject *FastFlows_pull(FastFlows *f, PyObject *arg)
{
    int idx;
    Flow *fl = held_flow(f, arg, &idx);
    if (fl == NULL)
        return NULL;
    PyObject *state = Py_BuildValue("(LLLLkLLkL)", fl->last_ts, fl->last_frame, fl->packets, fl->dir[0].nxt,
                                    (unsigned long)fl->dir[0].nxt_seq, fl->dir[0].delivered, fl->dir[1].nxt,
                                    (unsigned long)fl->dir[1].nxt_seq, fl->dir[1].delivered);
    if (state == NULL)
        return NULL;
    if (fl->state == FLOW_FAST) {
        lru_unlink(f, idx);
        f->fast--;
    }
    drop_slot(f, idx, 0);
    drop_slot(f, idx, 1);
    Py_CLEAR(fl->conn);
    Py_CLEAR(fl->conn_id);
    Py_CLEAR(fl->dir[0].recent);
    Py_CLEAR(fl->dir[1].recent);
    fl->state = FLOW_FREE;
    fl->next_free = f->free_head;
    f->free_head = idx;
    f->in_use--;
    return state;
}

/* ignore(handle): the connection is ignored from now on; its streams' buffers are no longer kept. */
static PyObject *FastFlows_ignore(FastFlows *f, PyObject *arg)
{
    int idx;
    Flow *fl = held_flow(f, arg, &idx);
    if (fl == NULL)
        return NULL;
    fl->ignored = 1;
    Py_CLEAR(fl->dir[0].recent);
    Py_CLEAR(fl->dir[1].recent);
    Py_RETURN_NONE;
}

/* counters() -> (segments, bytes_delivered, ignored_packets) since the last call. */
static PyObject *FastFlows_counters(FastFlows *f, PyObject *Py_UNUSED(ignored))
{
    PyObject *out = Py_BuildValue("(LLL)", f->segments, f->bytes_delivered, f->ignored_packets);
    if (out != NULL)
        f->segments = f->bytes_delivered = f->ignored_packets = 0;
    return out;
}

static PyObject *FastFlows_get_handled(FastFlows *f, void *Py_UNUSED(closure)) { return PyLong_FromLongLong(f->handled); }
static PyObject *FastFlows_get_fast(FastFlows *f, void *Py_UNUSED(closure)) { return PyLong_FromLong(f->fast); }
static Py_ssize_t FastFlows_len(FastFlows *f) { return f->in_use; }

static int FastFlows_init(FastFlows *f, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"data_type", "c2s", "s2c", "retain", "retain_trim", "idle_timeout_ns", NULL};
    PyObject *type, *c2s, *s2c;
    long long retain, retain_trim, idle;
    if (f->data_type != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "FastFlows is initialised once");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!OOLLL", kwlist, &PyType_Type, &type, &c2s, &s2c, &retain,
                                     &retain_trim, &idle))
        return -1;
    if (retain < 0 || retain_trim < retain) {
        PyErr_SetString(PyExc_ValueError, "need 0 <= retain <= retain_trim");
        return -1;
    }
    for (int i = 0; i < 7; i++) {
        PyObject *descr = PyObject_GetAttrString(type, DATA_FIELDS[i]);
        if (descr == NULL)
            return -1;
        int ok = Py_IS_TYPE(descr, &PyMemberDescr_Type) &&
                 ((PyMemberDescrObject *)descr)->d_member->type == T_OBJECT_EX &&
                 !(((PyMemberDescrObject *)descr)->d_member->flags & READONLY);
        if (ok)
            f->data_off[i] = ((PyMemberDescrObject *)descr)->d_member->offset;
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "data_type.%s is not a slot", DATA_FIELDS[i]);
            return -1;
        }
    }
    f->data_type = (PyTypeObject *)Py_NewRef(type);
    f->dir_obj[0] = Py_NewRef(c2s);
    f->dir_obj[1] = Py_NewRef(s2c);
    f->retain = retain;
    f->retain_trim = retain_trim;
    f->idle_timeout = idle;
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
            Py_XDECREF(fl->dir[0].recent);
            Py_XDECREF(fl->dir[1].recent);
        }
    }
    PyMem_Free(f->flows);
    PyMem_Free(f->slots);
    Py_XDECREF(f->data_type);
    Py_XDECREF(f->dir_obj[0]);
    Py_XDECREF(f->dir_obj[1]);
    Py_TYPE(f)->tp_free((PyObject *)f);
}

static PyMethodDef FastFlows_methods[] = {
    {"add", (PyCFunction)FastFlows_add, METH_VARARGS,
     "add(conn, conn_id, ignored, client_ip, client_port, server_ip, server_port, c2s_nxt, c2s_nxt_seq, "
     "c2s_recent, c2s_fin_done, s2c_nxt, s2c_nxt_seq, s2c_recent, s2c_fin_done, last_ts, last_frame) -> handle"},
    {"pull", (PyCFunction)FastFlows_pull, METH_O, "pull(handle) -> state tuple; the flow is forgotten"},
    {"ignore", (PyCFunction)FastFlows_ignore, METH_O, "ignore(handle): only count the flow's packets from now on"},
    {"counters", (PyCFunction)FastFlows_counters, METH_NOARGS,
     "counters() -> (segments, bytes_delivered, ignored_packets) since the last call"},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef FastFlows_getset[] = {
    {"handled", (getter)FastFlows_get_handled, NULL, "segments handled in C since creation", NULL},
    {"fast", (getter)FastFlows_get_fast, NULL, "flows handled in C now (the others are frozen)", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PySequenceMethods FastFlows_as_sequence = {.sq_length = (lenfunc)FastFlows_len};

static PyTypeObject FastFlowsType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "smtpsniff._native.fastpath.FastFlows",
    .tp_basicsize = sizeof(FastFlows),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "FastFlows(data_type, c2s, s2c, retain, retain_trim, idle_timeout_ns): established TCP connections "
              "whose common segments the Cutter handles (see smtpsniff/reassembly/table.py)",
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
 * belong to a flow handled here; so does the max_records-th record, so that connections Python
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
            if (flows->fast && sweep(flows, ts, n, sweeps) < 0)
                goto fail;
            next_sweep += expire_every;
        }
        Decoded r;
        int outcome = decode(self->linktype, d, (Py_ssize_t)incl, (long long)orig, &r);
        PyObject *item = NULL;
        int handled = 0;
        if (outcome == R_SEGMENT && flows != NULL && flows->fast) {
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
        if (flows != NULL && ((outcome == R_PYTHON && flows->fast) || n >= max_records)) {
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

static struct PyModuleDef fastpath_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "smtpsniff._native.fastpath",
    .m_doc = "Classic pcap records to TCP segments in C (see smtpsniff.net.native).",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit_fastpath(void)
{
    if (PyType_Ready(&CutterType) < 0 || PyType_Ready(&FastFlowsType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&fastpath_module);
    if (m == NULL)
        return NULL;
    Py_INCREF(&CutterType);
    if (PyModule_AddObject(m, "Cutter", (PyObject *)&CutterType) < 0) {
        Py_DECREF(&CutterType);
        Py_DECREF(m);
        return NULL;
    }
    Py_INCREF(&FastFlowsType);
    if (PyModule_AddObject(m, "FastFlows", (PyObject *)&FastFlowsType) < 0) {
        Py_DECREF(&FastFlowsType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "COUNTERS", C_COUNT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
