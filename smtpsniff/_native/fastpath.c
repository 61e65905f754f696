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
 * It keeps no state between chunks but a memo of address text, and knows nothing of files, TCP
 * streams or SMTP.  Counts of what it decided are returned per chunk for the caller to add to its
 * PacketCounts; frames handed back as Frame are not counted here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <string.h>
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

/* cut(buf, off, number) -> (items, ts_bytes, counts, n, off, number, last_ts, need, too_large)
 *
 * Mirrors smtpsniff/capture/pcap.py's record loop: stops at the end of the buffer (need = bytes the
 * next record needs) or at a record larger than max_record_bytes (too_large = its length). */
static PyObject *Cutter_call(Cutter *self, PyObject *args, PyObject *kwargs)
{
    Py_buffer view;
    Py_ssize_t off;
    long number;
    if (kwargs != NULL && PyDict_GET_SIZE(kwargs)) {
        PyErr_SetString(PyExc_TypeError, "cut() takes no keyword arguments");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*nl", &view, &off, &number))
        return NULL;
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
    PyObject *ts_bytes = NULL;
    PyObject *counts_obj = NULL;
    Py_ssize_t ts_cap = 0;
    int64_t *ts_out = NULL;
    if (items == NULL)
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
        Decoded r;
        int outcome = decode(self->linktype, d, (Py_ssize_t)incl, (long long)orig, &r);
        PyObject *item = NULL;
        if (outcome == R_SEGMENT) {
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
    return Py_BuildValue("(NNNnnlNnK)", items, ts_bytes, counts_obj, n, off, number, last, need, too_large);
fail:
    Py_XDECREF(items);
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
    if (PyType_Ready(&CutterType) < 0)
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
    if (PyModule_AddIntConstant(m, "COUNTERS", C_COUNT) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
