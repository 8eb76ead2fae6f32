/*
 * sm_payloads.formats._crecordio: optional C loops for the RecordIO-protobuf decoder.
 *
 * Primitives, each the twin of numpy code in sm_payloads/formats/_record_reader.py and
 * sm_payloads/formats/_wire.py (the suite checks them against each other):
 *
 *   walk(buf, starts, lengths)   the field-sequence walk of `_Walk` / `walk_decode`
 *   gather(buf, starts, lengths, out)   concatenate byte ranges of `buf` into `out`
 *   varints(buf, starts, lengths, counts, out, out_counts)   packed varint regions
 *   keys32(buf, starts, lengths, counts, out, bound)   the same into int32, each < bound
 *   same_gaps(buf, start, stride, n, gaps, cols)   uniform dense frames: check, copy
 *   strings(buf, starts, lengths)   the values of Bytes messages, as `_bytes_column`
 *   scan(buf, starts, lengths, wanted, limit)   the fields of many messages, as `_wire.scan`
 *   tensor_join(buf, starts, lengths, types)   tensors' fields joined, as `_tensor_fields`
 *   entries(buf, starts, lengths, full)   the map entries (and with `full` the strings) of
 *                                         records, as `_read_part`, without tables
 *
 * Rule: these functions never decide that an input is invalid. On anything unusual they
 * answer "not handled" (None, False, -1) and the caller runs the numpy twin, which either
 * handles the input or declines to the careful reader, which reports the exact error. A
 * primitive may therefore be stricter than its twin, never laxer, and where it answers it
 * answers exactly what the twin would.
 *
 * Safety: every position is checked against the end of the region it reads, and every
 * region against the buffer, before a byte is read; no allocation is sized by a length
 * word read from the input (only by the buffer and the record count). The loops run with
 * the GIL released; the buffers stay exported (so they cannot be resized) meanwhile.
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

#define MAX_COLUMNS 256 /* as `walk_decode` */
#define MAX_KEY 64      /* as `walk_decode` */

/* ------------------------------------------------------------------------------------ */
/* Buffers                                                                               */
/* ------------------------------------------------------------------------------------ */

/* A new bytearray of `size` bytes (contents undefined) for a table this module fills. One
 * of 4 MiB or more is marked for transparent huge pages, as numpy marks its large arrays:
 * filling a table of tens of megabytes otherwise costs more in page faults than in the
 * loop that fills it (a scan of 2 million map entries: 80 ms, 15 of them the loop). */
static PyObject *
new_table(Py_ssize_t size)
{
    PyObject *t = PyByteArray_FromStringAndSize(NULL, size);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (t != NULL && size >= ((Py_ssize_t)1 << 22)) {
        uintptr_t a = (uintptr_t)PyByteArray_AS_STRING(t);
        uintptr_t lo = (a + 4095) & ~(uintptr_t)4095, hi = (a + (uintptr_t)size) & ~(uintptr_t)4095;
        if (hi > lo)
            (void)madvise((void *)lo, hi - lo, MADV_HUGEPAGE); /* advice only: errors ignored */
    }
#endif
    return t;
}

static int
little_endian(void)
{
    const uint16_t one = 1;
    return *(const uint8_t *)&one == 1;
}

/* A struct-module format of one native integer of a type in `types` ("q", "<l", ...). */
static int
is_int_format(const char *f, const char *types)
{
    if (f == NULL)
        return 0;
    if (*f == '@' || *f == '=')
        f++;
    else if (*f == '<') {
        if (!little_endian())
            return 0;
        f++;
    }
    return f[0] != '\0' && strchr(types, f[0]) != NULL && f[1] == '\0';
}

/* A C-contiguous buffer of 8-byte integers (an int64 or uint64 numpy array). */
static int
get_i64(PyObject *o, Py_buffer *v, int writable)
{
    int flags = PyBUF_FORMAT | PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(o, v, flags) < 0)
        return -1;
    if (v->itemsize != 8 || v->len % 8 != 0 || !is_int_format(v->format, "qlQL") ||
        ((uintptr_t)v->buf % sizeof(int64_t)) != 0) {
        PyBuffer_Release(v);
        PyErr_SetString(PyExc_TypeError, "expected an aligned, contiguous array of 8-byte integers");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------ */
/* Varints                                                                               */
/* ------------------------------------------------------------------------------------ */

/* A varint at *pp inside `end`, as `read_varints_at` reads it: at most 10 bytes, the 10th
 * at most 1. On success *pp moves past it. */
static inline int
read_varint_at(const uint8_t *b, int64_t *pp, int64_t end, uint64_t *out)
{
    int64_t q = *pp;
    uint64_t v = 0;
    int j;
    for (j = 0; j < 10; j++) {
        uint8_t c;
        if (q >= end)
            return -1;
        c = b[q++];
        if (j == 9 && c > 1)
            return -1;
        v |= (uint64_t)(c & 0x7F) << (7 * j);
        if (c < 0x80) {
            *pp = q;
            *out = v;
            return 0;
        }
    }
    return -1;
}

/*
 * A length prefix at *pp, bounded by `limit` (<= the buffer's size), as `_Walk.length`
 * reads it: at most 10 bytes (the 10th at most 1), the value below 2**31 and not past
 * `limit`. On success *pp moves past the varint and *out holds the length.
 */
static inline int
read_len(const uint8_t *b, int64_t *pp, int64_t limit, int64_t *out)
{
    int64_t q = *pp;
    uint64_t v = 0;
    if (q < limit && b[q] < 0x80) { /* the common one-byte length */
        v = b[q];
        if ((int64_t)v > limit - q - 1)
            return -1;
        *pp = q + 1;
        *out = (int64_t)v;
        return 0;
    }
    if (read_varint_at(b, &q, limit, &v) || v >= ((uint64_t)1 << 31) || (int64_t)v > limit - q)
        return -1;
    *pp = q;
    *out = (int64_t)v;
    return 0;
}

/* A length-delimited field with tag `tag` at *pp, inside `limit`: on success *pp moves to
 * its payload and *out holds the payload's length. */
static inline int
read_field(const uint8_t *b, int64_t *pp, int64_t limit, uint8_t tag, int64_t *out)
{
    if (*pp >= limit || b[*pp] != tag)
        return -1;
    (*pp)++;
    return read_len(b, pp, limit, out);
}

/* ------------------------------------------------------------------------------------ */
/* walk                                                                                  */
/* ------------------------------------------------------------------------------------ */

typedef struct {
    uint8_t map_tag; /* 0x0A features, 0x12 label */
    uint8_t ttag;    /* 0x12 float32, 0x1A float64, 0x3A int32, 0x4A bytes */
    int64_t klen;
    const uint8_t *key; /* record 0's key bytes, inside the buffer */
} column_t;

/*
 * Step one record [pos, end) through the field sequence:
 *
 *   [field 16 (the magic shim)]
 *   then per column: map tag, entry length, 0x0A key, 0x12 value length,
 *   tensor tag, tensor length, optional 0x0A values, 0x12 keys, 0x1A shape
 *   (or, for a bytes value (tag 0x4A), its body whole, whatever it holds)
 *
 * With `discover`, the record decides the columns (record 0); otherwise it must follow
 * `cols`. Where `out` is given, writes the (start, length) of the three packed fields of
 * column c at out[(6c + 2k) * n + i] and out[(6c + 2k + 1) * n + i] (0, 0 where absent;
 * for a bytes column, the body as the first field and (0, 0) twice).
 * Returns 0, or -1 where `walk_decode` declines (or might: this is never laxer).
 */
static int
walk_record(const uint8_t *b, int64_t pos, int64_t end, column_t *cols, int *ncols, int discover,
            int64_t *out, int64_t n, int64_t i)
{
    static const uint8_t packed[3] = {0x0A, 0x12, 0x1A};
    int64_t ln, p;
    int c = 0, k;

    if (end - pos > 2 && b[pos] == 0x82 && b[pos + 1] == 0x01) {
        p = pos + 2;
        if (read_len(b, &p, end, &ln))
            return -1;
        pos = p + ln;
    }
    for (;;) {
        int64_t entry_end, value_end, tensor_end;
        uint8_t map_tag, ttag;
        if (discover) {
            if (pos >= end)
                break;
            map_tag = b[pos];
            if ((map_tag != 0x0A && map_tag != 0x12) || c >= MAX_COLUMNS)
                return -1;
        }
        else {
            if (c == *ncols)
                break;
            map_tag = cols[c].map_tag;
        }
        /* map entry */
        if (read_field(b, &pos, end, map_tag, &ln))
            return -1;
        entry_end = pos + ln;
        /* key */
        if (read_field(b, &pos, entry_end, 0x0A, &ln))
            return -1;
        if (discover) {
            if (ln > MAX_KEY)
                return -1;
            cols[c].map_tag = map_tag;
            cols[c].klen = ln;
            cols[c].key = b + pos;
        }
        else if (ln != cols[c].klen || memcmp(b + pos, cols[c].key, (size_t)ln) != 0)
            return -1;
        pos += ln;
        /* value: exactly one tensor, filling the entry */
        if (read_field(b, &pos, entry_end, 0x12, &ln))
            return -1;
        value_end = pos + ln;
        if (value_end != entry_end)
            return -1;
        if (discover) {
            ttag = pos < value_end ? b[pos] : 0;
            if (ttag != 0x12 && ttag != 0x1A && ttag != 0x3A && ttag != 0x4A)
                return -1;
            cols[c].ttag = ttag;
        }
        else
            ttag = cols[c].ttag;
        if (read_field(b, &pos, value_end, ttag, &ln))
            return -1;
        tensor_end = pos + ln;
        if (tensor_end != value_end)
            return -1;
        if (ttag == 0x4A) { /* bytes: the whole body in the first pair (`strings` reads it) */
            if (out != NULL) {
                for (k = 0; k < 3; k++) {
                    out[(6 * (int64_t)c + 2 * k) * n + i] = k ? 0 : pos;
                    out[(6 * (int64_t)c + 2 * k + 1) * n + i] = k ? 0 : ln;
                }
            }
            pos = tensor_end;
            c++;
            continue;
        }
        /* packed values, keys, shape: each optional, in this order, nothing else */
        for (k = 0; k < 3; k++) {
            int64_t s = 0, z = 0;
            if (pos < tensor_end && b[pos] == packed[k]) {
                p = pos + 1;
                if (read_len(b, &p, tensor_end, &ln))
                    return -1;
                if (k == 2 && ln == 0)
                    return -1; /* an empty shape is a scalar record: not this path */
                s = p;
                z = ln;
                pos = p + ln;
            }
            if (out != NULL) {
                out[(6 * (int64_t)c + 2 * k) * n + i] = s;
                out[(6 * (int64_t)c + 2 * k + 1) * n + i] = z;
            }
        }
        if (pos != tensor_end)
            return -1;
        c++;
    }
    if (pos != end)
        return -1;
    if (discover)
        *ncols = c;
    return 0;
}

/* The payload [start, start + length) lies inside a buffer of `size` bytes. */
static int
inside(int64_t start, int64_t length, Py_ssize_t size)
{
    return start >= 0 && length >= 0 && start <= (int64_t)size && length <= (int64_t)size - start;
}

/*
 * The (buf, starts, lengths) arguments of walk and strings (`format` names the function):
 * any buffer, and two int64 arrays of one size. 0 with the three buffers held, or -1 with
 * an exception set and none held.
 */
static int
get_range_buffers(PyObject *bo, PyObject *so, PyObject *lo, Py_buffer *bv, Py_buffer *sv, Py_buffer *lv)
{
    if (PyObject_GetBuffer(bo, bv, PyBUF_SIMPLE) < 0)
        return -1;
    if (get_i64(so, sv, 0) < 0) {
        PyBuffer_Release(bv);
        return -1;
    }
    if (get_i64(lo, lv, 0) < 0) {
        PyBuffer_Release(sv);
        PyBuffer_Release(bv);
        return -1;
    }
    if (sv->len != lv->len) {
        PyBuffer_Release(lv);
        PyBuffer_Release(sv);
        PyBuffer_Release(bv);
        PyErr_SetString(PyExc_ValueError, "starts and lengths differ in size");
        return -1;
    }
    return 0;
}

static int
get_ranges(PyObject *args, const char *format, Py_buffer *bv, Py_buffer *sv, Py_buffer *lv)
{
    PyObject *bo, *so, *lo;

    if (!PyArg_ParseTuple(args, format, &bo, &so, &lo))
        return -1;
    return get_range_buffers(bo, so, lo, bv, sv, lv);
}

PyDoc_STRVAR(walk_doc,
"walk(buf, starts, lengths) -> (columns, ranges) | None\n\n"
"Records buf[starts[i] : starts[i] + lengths[i]] (int64 arrays, n >= 1) that all follow\n"
"record 0's field sequence, as `walk_decode` reads them. `columns` is a list of\n"
"(map tag, key bytes, tensor tag); `ranges` a bytearray of len(columns) * 6 * n native\n"
"int64: per column the (start, length) of the packed values, keys and shape of every\n"
"record (0, 0 where absent). None where the walk would (or might) decline.");

static PyObject *
cr_walk(PyObject *self, PyObject *args)
{
    PyObject *result = NULL, *ranges = NULL, *list = NULL;
    Py_buffer bv, sv, lv;
    const uint8_t *b;
    const int64_t *starts, *lengths;
    int64_t n, i, s0, l0, total = 0, *out;
    column_t cols[MAX_COLUMNS];
    int ncols = 0, c, failed = 0;
    size_t size;

    (void)self;
    if (get_ranges(args, "OOO:walk", &bv, &sv, &lv) < 0)
        return NULL;
    b = (const uint8_t *)bv.buf;
    starts = (const int64_t *)sv.buf;
    lengths = (const int64_t *)lv.buf;
    n = (int64_t)(sv.len / 8);
    if (n == 0) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    s0 = starts[0];
    l0 = lengths[0];
    if (!inside(s0, l0, bv.len) || walk_record(b, s0, s0 + l0, cols, &ncols, 1, NULL, n, 0)) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    /*
     * The output takes 48 bytes per column and record. A column takes at least 8 bytes of
     * a record (tags and one-byte lengths), so unless the records hold 8 * ncols * n bytes
     * some record is too short and the walk fails: decline before allocating. Records that
     * add up to more than the buffer overlap (frame_table never gives such): decline too.
     * So the output is at most 6 times the buffer, whatever record 0 and n say.
     */
    for (i = 0; i < n; i++) {
        int64_t l = lengths[i];
        if (l < 0 || l > (int64_t)bv.len - total) {
            total = -1;
            break;
        }
        total += l;
    }
    if (total < 0 || (ncols && n > total / (8 * (int64_t)ncols)) ||
        (uint64_t)ncols * 48 * (uint64_t)n > (uint64_t)PY_SSIZE_T_MAX) { /* (32-bit builds) */
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    size = (size_t)ncols * 6 * 8 * (size_t)n;
    ranges = new_table((Py_ssize_t)size);
    if (ranges == NULL)
        goto done;
    out = (int64_t *)PyByteArray_AS_STRING(ranges);
    if (size && ((uintptr_t)out % sizeof(int64_t)) != 0) {
        result = Py_None; /* never seen: the allocator aligns to 16 */
        Py_INCREF(result);
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n; i++) {
        int64_t s = starts[i], l = lengths[i];
        if (!inside(s, l, bv.len) || walk_record(b, s, s + l, cols, &ncols, 0, out, n, i)) {
            failed = 1;
            break;
        }
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    list = PyList_New(ncols);
    if (list == NULL)
        goto done;
    for (c = 0; c < ncols; c++) {
        PyObject *item = Py_BuildValue("(iy#i)", (int)cols[c].map_tag, (const char *)cols[c].key,
                                       (Py_ssize_t)cols[c].klen, (int)cols[c].ttag);
        if (item == NULL)
            goto done;
        PyList_SET_ITEM(list, c, item);
    }
    result = PyTuple_Pack(2, list, ranges);
done:
    Py_XDECREF(list);
    Py_XDECREF(ranges);
    PyBuffer_Release(&lv);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&bv);
    return result;
}

/* ------------------------------------------------------------------------------------ */
/* gather                                                                                */
/* ------------------------------------------------------------------------------------ */

PyDoc_STRVAR(gather_doc,
"gather(buf, starts, lengths, out) -> bool\n\n"
"Write buf[starts[i] : starts[i] + lengths[i]] for every i, one after another, into the\n"
"writable contiguous buffer `out`, which they must fill exactly. False (with `out` in\n"
"an unspecified state) where a range leaves `buf` or the sizes do not add up.");

static PyObject *
cr_gather(PyObject *self, PyObject *args)
{
    PyObject *bo, *so, *lo, *oo, *result = NULL;
    Py_buffer bv, sv, lv, ov;
    const uint8_t *b;
    uint8_t *o;
    const int64_t *starts, *lengths;
    int64_t n, i, off = 0, olen;
    int ok = 1;

    (void)self;
    if (!PyArg_ParseTuple(args, "OOOO:gather", &bo, &so, &lo, &oo))
        return NULL;
    if (PyObject_GetBuffer(bo, &bv, PyBUF_SIMPLE) < 0)
        return NULL;
    if (get_i64(so, &sv, 0) < 0)
        goto release_b;
    if (get_i64(lo, &lv, 0) < 0)
        goto release_s;
    if (PyObject_GetBuffer(oo, &ov, PyBUF_WRITABLE) < 0)
        goto release_l;
    if (sv.len != lv.len) {
        PyErr_SetString(PyExc_ValueError, "starts and lengths differ in size");
        goto release_o;
    }
    b = (const uint8_t *)bv.buf;
    o = (uint8_t *)ov.buf;
    olen = (int64_t)ov.len;
    starts = (const int64_t *)sv.buf;
    lengths = (const int64_t *)lv.buf;
    n = (int64_t)(sv.len / 8);
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n; i++) {
        int64_t s = starts[i], l = lengths[i];
        if (!inside(s, l, bv.len) || l > olen - off) {
            ok = 0;
            break;
        }
        memcpy(o + off, b + s, (size_t)l);
        off += l;
    }
    if (off != olen)
        ok = 0;
    Py_END_ALLOW_THREADS
    result = PyBool_FromLong(ok);
release_o:
    PyBuffer_Release(&ov);
release_l:
    PyBuffer_Release(&lv);
release_s:
    PyBuffer_Release(&sv);
release_b:
    PyBuffer_Release(&bv);
    return result;
}

/* ------------------------------------------------------------------------------------ */
/* varints                                                                               */
/* ------------------------------------------------------------------------------------ */

/*
 * Decode the packed varints of every region buf[starts[i] : starts[i] + lengths[i]], one
 * region after another, into out64 (uint64) or, where out64 is NULL, into out32 (int32;
 * then every value must be below `bound` <= 2**31). With `counts` each region must hold
 * exactly counts[i] varints; otherwise their number is written to out_counts[i]. Returns
 * how many values were written, or -1 where a region leaves the buffer, ends inside a
 * varint, holds a varint of more than 10 bytes (or a 10th byte above 1), holds another
 * number of varints than asked, a value reaches `bound`, or the output is too small.
 * `_wire.decode_varint_stream` reads the same values and rejects the same regions.
 */
static int64_t
decode_regions(const uint8_t *b, Py_ssize_t size, const int64_t *starts, const int64_t *lengths,
               int64_t n, const int64_t *counts, int64_t *out_counts, uint64_t *out64, int32_t *out32,
               uint64_t bound, int64_t cap)
{
    int64_t i, k = 0;
    for (i = 0; i < n; i++) {
        int64_t s = starts[i], l = lengths[i], p, e, first = k;
        if (!inside(s, l, size))
            return -1;
        p = s;
        e = s + l;
        while (p < e) {
            uint64_t v;
            uint8_t x = b[p++];
            if (x < 0x80)
                v = x;
            else {
                int j;
                v = x & 0x7F;
                for (j = 1;; j++) {
                    if (j == 10 || p >= e)
                        return -1;
                    x = b[p++];
                    if (j == 9 && x > 1)
                        return -1;
                    v |= (uint64_t)(x & 0x7F) << (7 * j);
                    if (x < 0x80)
                        break;
                }
            }
            if (k >= cap)
                return -1;
            if (out64 != NULL)
                out64[k++] = v;
            else {
                if (v >= bound)
                    return -1;
                out32[k++] = (int32_t)v;
            }
        }
        if (counts != NULL) {
            if (k - first != counts[i])
                return -1;
        }
        else
            out_counts[i] = k - first;
    }
    return k;
}

PyDoc_STRVAR(varints_doc,
"varints(buf, starts, lengths, counts, out, out_counts) -> int\n\n"
"Decode the packed varints of every region buf[starts[i] : starts[i] + lengths[i]] into\n"
"the uint64 buffer `out`, one region after another, as `_wire.decode_varint_stream` does.\n"
"With `counts` (int64) each region must hold exactly counts[i] varints; without (None)\n"
"the number in each region is written to `out_counts` (int64). Returns how many values\n"
"were written, or -1 where a region leaves `buf`, ends inside a varint, holds a varint\n"
"of more than 10 bytes (or a 10th byte above 1), holds another number of varints than\n"
"asked, or `out` is too small.");

static PyObject *
cr_varints(PyObject *self, PyObject *args)
{
    PyObject *bo, *so, *lo, *co, *oo, *qo, *result = NULL;
    Py_buffer bv, sv, lv, cv, ov, qv;
    int have_c = 0, have_q = 0;
    int64_t k;

    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOO:varints", &bo, &so, &lo, &co, &oo, &qo))
        return NULL;
    if (PyObject_GetBuffer(bo, &bv, PyBUF_SIMPLE) < 0)
        return NULL;
    if (get_i64(so, &sv, 0) < 0)
        goto release_b;
    if (get_i64(lo, &lv, 0) < 0)
        goto release_s;
    if (get_i64(oo, &ov, 1) < 0)
        goto release_l;
    if (co != Py_None) {
        if (get_i64(co, &cv, 0) < 0)
            goto release;
        have_c = 1;
    }
    else {
        if (get_i64(qo, &qv, 1) < 0)
            goto release;
        have_q = 1;
    }
    if (sv.len != lv.len || (have_c && cv.len != sv.len) || (have_q && qv.len != sv.len)) {
        PyErr_SetString(PyExc_ValueError, "starts, lengths and counts differ in size");
        goto release;
    }
    Py_BEGIN_ALLOW_THREADS
    k = decode_regions((const uint8_t *)bv.buf, bv.len, (const int64_t *)sv.buf,
                       (const int64_t *)lv.buf, (int64_t)(sv.len / 8),
                       have_c ? (const int64_t *)cv.buf : NULL, have_q ? (int64_t *)qv.buf : NULL,
                       (uint64_t *)ov.buf, NULL, 0, (int64_t)(ov.len / 8));
    Py_END_ALLOW_THREADS
    result = PyLong_FromLongLong((long long)k);
release:
    if (have_q)
        PyBuffer_Release(&qv);
    if (have_c)
        PyBuffer_Release(&cv);
    PyBuffer_Release(&ov);
release_l:
    PyBuffer_Release(&lv);
release_s:
    PyBuffer_Release(&sv);
release_b:
    PyBuffer_Release(&bv);
    return result;
}

PyDoc_STRVAR(keys32_doc,
"keys32(buf, starts, lengths, counts, out, bound) -> int\n\n"
"As varints(buf, starts, lengths, counts, ...), into the int32 buffer `out`, every value\n"
"below `bound` (0 <= bound <= 2**31): the column indices of a sparse column. Returns how\n"
"many were written, or -1 (see varints) also where a value reaches `bound`.");

static PyObject *
cr_keys32(PyObject *self, PyObject *args)
{
    PyObject *bo, *so, *lo, *co, *oo, *result = NULL;
    Py_buffer bv, sv, lv, cv, ov;
    long long bound;
    int64_t k;

    (void)self;
    if (!PyArg_ParseTuple(args, "OOOOOL:keys32", &bo, &so, &lo, &co, &oo, &bound))
        return NULL;
    if (bound < 0 || bound > ((long long)1 << 31)) {
        PyErr_SetString(PyExc_ValueError, "bound must lie in [0, 2**31]");
        return NULL;
    }
    if (PyObject_GetBuffer(bo, &bv, PyBUF_SIMPLE) < 0)
        return NULL;
    if (get_i64(so, &sv, 0) < 0)
        goto release_b;
    if (get_i64(lo, &lv, 0) < 0)
        goto release_s;
    if (get_i64(co, &cv, 0) < 0)
        goto release_l;
    if (PyObject_GetBuffer(oo, &ov, PyBUF_WRITABLE | PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0)
        goto release_c;
    if (ov.itemsize != 4 || !is_int_format(ov.format, "il") ||
        ((uintptr_t)ov.buf % sizeof(int32_t)) != 0) {
        PyErr_SetString(PyExc_TypeError, "expected an aligned, contiguous int32 array");
        goto release_o;
    }
    if (sv.len != lv.len || cv.len != sv.len) {
        PyErr_SetString(PyExc_ValueError, "starts, lengths and counts differ in size");
        goto release_o;
    }
    Py_BEGIN_ALLOW_THREADS
    k = decode_regions((const uint8_t *)bv.buf, bv.len, (const int64_t *)sv.buf,
                       (const int64_t *)lv.buf, (int64_t)(sv.len / 8), (const int64_t *)cv.buf, NULL,
                       NULL, (int32_t *)ov.buf, (uint64_t)bound, (int64_t)(ov.len / 4));
    Py_END_ALLOW_THREADS
    result = PyLong_FromLongLong((long long)k);
release_o:
    PyBuffer_Release(&ov);
release_c:
    PyBuffer_Release(&cv);
release_l:
    PyBuffer_Release(&lv);
release_s:
    PyBuffer_Release(&sv);
release_b:
    PyBuffer_Release(&bv);
    return result;
}

/* ------------------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------------------ */
/* same_gaps: the constant bytes of uniform dense frames                                */
/* ------------------------------------------------------------------------------------ */

PyDoc_STRVAR(same_gaps_doc,
             "same_gaps(buf, start, stride, n, gaps, cols) -> bool\n\n"
             "Uniform dense frames, one pass over the records at start + i * stride: True\n"
             "when the byte ranges gaps (a list of (a, b) offsets into a record) of every\n"
             "record equal record 0's, with each column of cols (a list of (a, b, out): out a\n"
             "writable buffer of n * (b - a) bytes) copied record by record into out on the\n"
             "way. False when a gap differs or a range leaves buf (out is then partly\n"
             "written, and the caller declines).");

#define MAX_GAPS 64

static PyObject *
cr_same_gaps(PyObject *self, PyObject *args)
{
    Py_buffer buf, outs[MAX_GAPS];
    Py_ssize_t start, stride, n, i, g, ngaps, ncols, nouts = 0;
    PyObject *gaps, *cols;
    Py_ssize_t lo[MAX_GAPS], hi[MAX_GAPS], clo[MAX_GAPS], chi[MAX_GAPS];
    int same = 1, bad = 0;
    (void)self;
    if (!PyArg_ParseTuple(args, "y*nnnO!O!:same_gaps", &buf, &start, &stride, &n, &PyList_Type, &gaps,
                          &PyList_Type, &cols))
        return NULL;
    ngaps = PyList_GET_SIZE(gaps);
    ncols = PyList_GET_SIZE(cols);
    /* every record starts inside buf, whatever the ranges ((n - 1) * stride cannot overflow) */
    if (ngaps > MAX_GAPS || ncols > MAX_GAPS || start < 0 || stride < 1 || n < 1 || start > buf.len ||
        (n > 1 && stride > (buf.len - start) / (n - 1))) {
        PyBuffer_Release(&buf);
        Py_RETURN_FALSE;
    }
    /* every range inside record 0's and the last record's bytes */
#define RANGE_OK(a, b) \
    ((a) >= 0 && (b) >= (a) && (b) <= buf.len - start && (n == 1 || stride <= (buf.len - start - (b)) / (n - 1)))
    for (g = 0; g < ngaps && !bad; g++) {
        if (!PyArg_ParseTuple(PyList_GET_ITEM(gaps, g), "nn", &lo[g], &hi[g]))
            bad = -1;
        else if (!RANGE_OK(lo[g], hi[g]))
            bad = 1;
    }
    for (g = 0; g < ncols && !bad; g++) {
        if (!PyArg_ParseTuple(PyList_GET_ITEM(cols, g), "nnw*", &clo[g], &chi[g], &outs[g])) {
            bad = -1;
            break;
        }
        nouts++;
        if (!RANGE_OK(clo[g], chi[g]) || outs[g].len / n != chi[g] - clo[g] || outs[g].len % n != 0)
            bad = 1;
    }
#undef RANGE_OK
    if (!bad) {
        Py_BEGIN_ALLOW_THREADS
        const uint8_t *r0 = (const uint8_t *)buf.buf + start;
        for (g = 0; g < ncols; g++)
            memcpy(outs[g].buf, r0 + clo[g], (size_t)(chi[g] - clo[g]));
        for (i = 1; i < n && same; i++) {
            const uint8_t *r = r0 + i * stride;
            for (g = 0; g < ngaps; g++) {
                if (memcmp(r + lo[g], r0 + lo[g], (size_t)(hi[g] - lo[g])) != 0) {
                    same = 0;
                    break;
                }
            }
            for (g = 0; g < ncols; g++) {
                size_t w = (size_t)(chi[g] - clo[g]);
                memcpy((uint8_t *)outs[g].buf + (size_t)i * w, r + clo[g], w);
            }
        }
        Py_END_ALLOW_THREADS
    }
    for (g = 0; g < nouts; g++)
        PyBuffer_Release(&outs[g]);
    PyBuffer_Release(&buf);
    if (bad < 0)
        return NULL;
    if (bad)
        Py_RETURN_FALSE;
    return PyBool_FromLong(same);
}

/* ------------------------------------------------------------------------------------ */
/* scan                                                                                  */
/* ------------------------------------------------------------------------------------ */


/* One field of a message at *pp inside `end`, as `scan` splits it: its number, wire type
 * and the bytes of its value [*vs, *ve) (a payload, a varint, fixed bytes). -1 where
 * `scan` declines: a field number of 0 or past 2**29 - 1, a group or invalid wire type, a
 * varint that is truncated or too long, a value past `end`. */
static inline int
scan_field(const uint8_t *b, int64_t *pp, int64_t end, int64_t *fn, int64_t *wt, int64_t *vs,
           int64_t *ve)
{
    uint64_t key, ln;
    int64_t q = *pp;
    if (q < end && b[q] < 0x80) { /* the common one-byte tag */
        key = b[q++];
        if ((key >> 3) == 0)
            return -1;
    }
    else if (read_varint_at(b, &q, end, &key) || (key >> 32) != 0 || (key >> 3) == 0)
        return -1;
    *fn = (int64_t)(key >> 3);
    *wt = (int64_t)(key & 7);
    switch (*wt) {
    case 0: /* varint */
        *vs = q;
        if (q < end && b[q] < 0x80) /* a one-byte varint */
            q++;
        else if (read_varint_at(b, &q, end, &ln))
            return -1;
        *ve = q;
        break;
    case 1: /* fixed64 */
    case 5: /* fixed32 */
        if (end - q < (*wt == 1 ? 8 : 4))
            return -1;
        *vs = q;
        *ve = q + (*wt == 1 ? 8 : 4);
        break;
    case 2: /* length-delimited */
        if (q < end && b[q] < 0x80) /* the common one-byte length */
            ln = b[q++];
        else if (read_varint_at(b, &q, end, &ln))
            return -1;
        if (ln > (uint64_t)(end - q))
            return -1;
        *vs = q;
        *ve = q + (int64_t)ln;
        break;
    default: /* groups (3, 4) and invalid wire types */
        return -1;
    }
    *pp = *ve;
    return 0;
}

/* With `scan`'s `collapse`: whether a kept field (number `fn`) is an empty length-delimited
 * one right after a kept empty one of the same number in its message (`*prev`: that number,
 * 0 where the last kept field was not empty; updated here). */
static inline int
repeats_empty(int64_t *prev, int64_t fn, int64_t wt, int64_t vs, int64_t ve)
{
    if (wt != 2 || vs != ve) {
        *prev = 0;
        return 0;
    }
    if (*prev == fn)
        return 1;
    *prev = fn;
    return 0;
}

PyDoc_STRVAR(scan_doc,
"scan(buf, starts, lengths, wanted, limit) -> bytearray | None\n\n"
"The fields of every message buf[starts[i] : starts[i] + lengths[i]] (int64 arrays), as\n"
"`_wire.scan` splits them, keeping those whose field number f < 64 has bit f set in\n"
"`wanted` (the others are checked and skipped): a bytearray of 5 * k native int64, the\n"
"message index, field number, wire type, value start and value end of the k fields kept,\n"
"by message, then in wire order. None where `scan` declines or a message leaves the\n"
"buffer; False where more than `limit` fields would be kept (the twin declines too).\n"
"With `collapse` true, an empty length-delimited field right after a kept empty one of the\n"
"same number in the same message is not kept (nor counted): the record reader's levels\n"
"read such a run as one field.");

static PyObject *
cr_scan(PyObject *self, PyObject *args)
{
    PyObject *result = NULL;
    Py_buffer bv, sv, lv;
    const uint8_t *b;
    const int64_t *starts, *lengths;
    int64_t n, i, k = 0, j = 0, limit, prev, *out;
    unsigned long long wanted;
    int failed = 0, collapse = 0;
    PyObject *bo, *so, *lo;

    (void)self;
    if (!PyArg_ParseTuple(args, "OOOKL|p:scan", &bo, &so, &lo, &wanted, &limit, &collapse))
        return NULL;
    if (get_range_buffers(bo, so, lo, &bv, &sv, &lv) < 0)
        return NULL;
    b = (const uint8_t *)bv.buf;
    starts = (const int64_t *)sv.buf;
    lengths = (const int64_t *)lv.buf;
    n = (int64_t)(sv.len / 8);
    /* First count the fields (a field takes at least 2 bytes, so never more than the
     * buffer's size), then fill the table: no allocation from a length in the input. */
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n && !failed; i++) {
        int64_t pos = starts[i], len = lengths[i], end, fn, wt, vs, ve;
        if (!inside(pos, len, bv.len)) {
            failed = 1;
            break;
        }
        end = pos + len;
        prev = 0;
        while (pos < end) {
            if (scan_field(b, &pos, end, &fn, &wt, &vs, &ve)) {
                failed = 1;
                break;
            }
            if (fn >= 64 || !((wanted >> fn) & 1))
                continue;
            if (collapse && repeats_empty(&prev, fn, wt, vs, ve))
                continue;
            if (++k > limit)
                break;
        }
        if (k > limit)
            break;
    }
    Py_END_ALLOW_THREADS
    if (!failed && k > limit) {
        /* more than `limit` fields, or a scan that would decline further on: either way
         * the twin declines, so this answer is exact */
        result = Py_False;
        Py_INCREF(result);
        goto done;
    }
    if (failed || (uint64_t)k > (uint64_t)PY_SSIZE_T_MAX / 40)
        goto decline;
    result = new_table((Py_ssize_t)(k * 40));
    if (result == NULL)
        goto done;
    out = (int64_t *)PyByteArray_AS_STRING(result);
    if (k && ((uintptr_t)out % sizeof(int64_t)) != 0) {
        Py_CLEAR(result); /* never seen: the allocator aligns to 16 */
        goto decline;
    }
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < n && !failed; i++) {
        /* the buffers stay exported, but a writer could change their bytes meanwhile (the
         * ranges too): the second pass checks everything again and never writes past k
         * fields */
        int64_t pos = starts[i], len = lengths[i], end;
        if (!inside(pos, len, bv.len)) {
            failed = 1;
            break;
        }
        end = pos + len;
        prev = 0;
        while (pos < end) {
            int64_t fn, wt, vs, ve;
            if (scan_field(b, &pos, end, &fn, &wt, &vs, &ve)) {
                failed = 1;
                break;
            }
            if (fn >= 64 || !((wanted >> fn) & 1))
                continue;
            if (collapse && repeats_empty(&prev, fn, wt, vs, ve))
                continue;
            if (j >= k) {
                failed = 1;
                break;
            }
            out[j] = i;
            out[k + j] = fn;
            out[2 * k + j] = wt;
            out[3 * k + j] = vs;
            out[4 * k + j] = ve;
            j++;
        }
    }
    Py_END_ALLOW_THREADS
    if (failed || j != k) {
        Py_CLEAR(result);
        goto decline;
    }
    goto done;
decline:
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&lv);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&bv);
    return result;
}

/* ------------------------------------------------------------------------------------ */
/* tensor_join                                                                           */
/* ------------------------------------------------------------------------------------ */

/* The wire type of one unpacked element of tensor field `fn` (1 values, 2 keys, 3 shape)
 * of a tensor of Value member `type` (2 float32, 3 float64, 7 int32). */
static inline int64_t
unpacked_wt(int64_t fn, int64_t type)
{
    if (fn == 1 && type == 2)
        return 5;
    if (fn == 1 && type == 3)
        return 1;
    return 0;
}

/* memcpy, inline for the few bytes of most packed runs */
static inline void
copy_bytes(uint8_t *to, const uint8_t *from, int64_t len)
{
    if (len <= 16) {
        int64_t j;
        for (j = 0; j < len; j++)
            to[j] = from[j];
    }
    else
        memcpy(to, from, (size_t)len);
}

/* Past a run of the two bytes `tag`, 0 (empty length-delimited fields of one number) at
 * `pos` inside `end`: where the run ends. */
static inline int64_t
skip_empty_run(const uint8_t *b, int64_t pos, int64_t end, uint8_t tag)
{
    uint64_t pattern = 0x0001000100010001ULL * tag, w;
    if (little_endian())
        while (end - pos >= 8) {
            memcpy(&w, b + pos, 8);
            if (w != pattern)
                break;
            pos += 8;
        }
    while (end - pos >= 2 && b[pos] == tag && b[pos + 1] == 0)
        pos += 2;
    return pos;
}

/*
 * Past a run of unpacked elements at *pp inside `end`, each of the one-byte tag `tag` (wire
 * type 0, 1 or 5; a varint read as `read_varint_at` reads it, pairs of a tag and a one-byte
 * varint 4 at a time) (the elements that follow one just read, millions of them in a long
 * tensor): moves *pp past them and returns the bytes of
 * their values, copied to `out` where it is not NULL (at most `room` of them; the run stops
 * before more). Elements of other shapes are left to `scan_field`.
 */
static inline int64_t
unpacked_run(const uint8_t *b, int64_t *pp, int64_t end, uint8_t tag, uint8_t *out, int64_t room)
{
    int64_t q = *pp, o = 0;
    int wt = tag & 7;
    if (wt == 0) {
        uint64_t pattern = 0x0001000100010001ULL * tag, w;
        if (little_endian())
            while (end - q >= 8 && room - o >= 4) {
                memcpy(&w, b + q, 8);
                if (((w ^ pattern) & 0x00FF00FF00FF00FFULL) | (w & 0x8000800080008000ULL))
                    break;
                if (out != NULL) {
                    out[o] = (uint8_t)(w >> 8);
                    out[o + 1] = (uint8_t)(w >> 24);
                    out[o + 2] = (uint8_t)(w >> 40);
                    out[o + 3] = (uint8_t)(w >> 56);
                }
                o += 4;
                q += 8;
            }
        while (end - q >= 2 && b[q] == tag && room - o >= 1) {
            int64_t v = q + 1, last = end - v < 10 ? end : v + 10;
            while (v < last && b[v] >= 0x80) /* (a varint of several bytes) */
                v++;
            if (v == last || (v - q == 10 && b[v] > 1) || room - o < v - q)
                break; /* truncated, too long, or past `room`: `scan_field`'s */
            if (out != NULL)
                copy_bytes(out + o, b + q + 1, v - q);
            o += v - q;
            q = v + 1;
        }
    }
    else if (wt == 1 || wt == 5) {
        int64_t width = wt == 1 ? 8 : 4;
        while (end - q > width && b[q] == tag && room - o >= width) {
            if (out != NULL)
                memcpy(out + o, b + q + 1, (size_t)width);
            o += width;
            q += width + 1;
        }
    }
    *pp = q;
    return o;
}

/* Check the tensor message [pos, end) of member `type` as `_tensor_fields` does; add the
 * bytes of its fields 1-3 to total[0..2]. -1 where `_tensor_fields` declines, or with
 * `packed_only` where a field 1-3 is not length-delimited. */
static int
tensor_check(const uint8_t *b, int64_t pos, int64_t end, int64_t type, int64_t *total, int packed_only)
{
    int64_t fn, wt, vs, ve;
    while (pos < end) {
        if (scan_field(b, &pos, end, &fn, &wt, &vs, &ve))
            return -1;
        if (wt == 2 && vs == ve && fn < 16) { /* empty: it, and a run of it, add nothing */
            pos = skip_empty_run(b, pos, end, (uint8_t)(fn << 3 | 2));
            continue;
        }
        if (fn < 1 || fn > 3)
            continue;
        if (wt != 2 && (packed_only || wt != unpacked_wt(fn, type)))
            return -1;
        if (wt == 2) {
            if (fn == 1 && type != 7) {
                if ((ve - vs) % (type == 3 ? 8 : 4))
                    return -1;
            }
            else if (ve > vs && b[ve - 1] >= 0x80)
                return -1;
        }
        total[fn - 1] += ve - vs;
        if (wt != 2) /* (more of them, most likely) */
            total[fn - 1] += unpacked_run(b, &pos, end, (uint8_t)(fn << 3 | wt), NULL, INT64_MAX);
    }
    return 0;
}

PyDoc_STRVAR(tensor_join_doc,
"tensor_join(buf, starts, lengths, types) -> (bytearray, bytearray) | None\n\n"
"The tensor messages buf[starts[i] : starts[i] + lengths[i]] (int64 arrays; `types` the\n"
"Value member of each: 2 float32, 3 float64, 7 int32), as `_record_reader._tensor_fields`\n"
"reads them: each message's values, keys and shape, every occurrence (packed or unpacked)\n"
"joined in wire order into one packed run. Returns the runs (all values, then all keys,\n"
"then all shapes, message by message) and 6 * k native int64: per field f and message i,\n"
"the run's start at [2 f k + i] and length at [(2 f + 1) k + i]. None where the twin\n"
"declines (a wire type protobuf refuses there, a packed run of fixed-width values of a\n"
"length that is not a multiple of their width, a packed varint run that ends inside a\n"
"varint, a malformed field), or a message leaves the buffer. Unlike the twin it builds no\n"
"table of fields, so it has no row limit.");

static PyObject *
cr_tensor_join(PyObject *self, PyObject *args)
{
    PyObject *bo, *so, *lo, *to, *result = NULL, *joined = NULL, *ranges = NULL;
    Py_buffer bv, sv, lv, tv;
    const uint8_t *b;
    const int64_t *starts, *lengths, *types;
    uint8_t *out;
    int64_t k, i, f, total[3] = {0, 0, 0}, all, at, *rg;
    int failed = 0;

    (void)self;
    if (!PyArg_ParseTuple(args, "OOOO:tensor_join", &bo, &so, &lo, &to))
        return NULL;
    if (get_range_buffers(bo, so, lo, &bv, &sv, &lv) < 0)
        return NULL;
    if (get_i64(to, &tv, 0) < 0) {
        PyBuffer_Release(&lv);
        PyBuffer_Release(&sv);
        PyBuffer_Release(&bv);
        return NULL;
    }
    b = (const uint8_t *)bv.buf;
    starts = (const int64_t *)sv.buf;
    lengths = (const int64_t *)lv.buf;
    types = (const int64_t *)tv.buf;
    k = (int64_t)(sv.len / 8);
    if (tv.len != sv.len) {
        PyErr_SetString(PyExc_ValueError, "types and starts differ in size");
        goto done;
    }
    Py_BEGIN_ALLOW_THREADS
    for (i = 0; i < k && !failed; i++) {
        int64_t t = types[i], pos = starts[i], len = lengths[i]; /* each read once */
        failed = !inside(pos, len, bv.len) || (t != 2 && t != 3 && t != 7) ||
                 tensor_check(b, pos, pos + len, t, total, 0) ||
                 total[0] + total[1] + total[2] > (int64_t)bv.len;
    }
    Py_END_ALLOW_THREADS
    /* each message adds at most the buffer's size to a sum that was within it (messages
     * may overlap): no overflow, and more than the buffer declines */
    all = total[0] + total[1] + total[2];
    if (failed || (uint64_t)k > (uint64_t)PY_SSIZE_T_MAX / 48) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    joined = new_table((Py_ssize_t)all);
    ranges = new_table((Py_ssize_t)(k * 48));
    if (joined == NULL || ranges == NULL)
        goto done;
    out = (uint8_t *)PyByteArray_AS_STRING(joined);
    rg = (int64_t *)PyByteArray_AS_STRING(ranges);
    if (k && ((uintptr_t)rg % sizeof(int64_t)) != 0) {
        result = Py_None; /* never seen: the allocator aligns to 16 */
        Py_INCREF(result);
        goto done;
    }
    at = 0;
    Py_BEGIN_ALLOW_THREADS
    for (f = 1; f <= 3 && !failed; f++) {
        for (i = 0; i < k; i++) {
            int64_t pos = starts[i], len = lengths[i], end, fn, wt, vs, ve, first = at;
            /* the bytes may change meanwhile (a writer, the ranges too): checked again,
             * never past `all` */
            if (!inside(pos, len, bv.len)) {
                failed = 1;
                break;
            }
            end = pos + len;
            while (pos < end) {
                if (scan_field(b, &pos, end, &fn, &wt, &vs, &ve)) {
                    failed = 1;
                    break;
                }
                if (wt == 2 && vs == ve && fn < 16) { /* empty: it, and a run of it, add nothing */
                    pos = skip_empty_run(b, pos, end, (uint8_t)(fn << 3 | 2));
                    continue;
                }
                if (fn != f) {
                    if (wt != 2 && fn >= 1 && fn <= 3) /* (a run of another field's elements) */
                        unpacked_run(b, &pos, end, (uint8_t)(fn << 3 | wt), NULL, INT64_MAX);
                    continue;
                }
                if (ve - vs > all - at) {
                    failed = 1;
                    break;
                }
                copy_bytes(out + at, b + vs, ve - vs);
                at += ve - vs;
                if (wt != 2) /* (more of them, most likely) */
                    at += unpacked_run(b, &pos, end, (uint8_t)(f << 3 | wt), out + at, all - at);
            }
            if (failed)
                break;
            rg[2 * (f - 1) * k + i] = first;
            rg[(2 * (f - 1) + 1) * k + i] = at - first;
        }
    }
    Py_END_ALLOW_THREADS
    if (failed || at != all) {
        PyErr_SetString(PyExc_BufferError, "tensor_join: the data changed while it was read");
        goto done;
    }
    result = PyTuple_Pack(2, joined, ranges);
done:
    Py_XDECREF(joined);
    Py_XDECREF(ranges);
    PyBuffer_Release(&tv);
    PyBuffer_Release(&lv);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&bv);
    return result;
}

/* ------------------------------------------------------------------------------------ */
/* strings                                                                               */
/* ------------------------------------------------------------------------------------ */

/* One value: a str where it is valid UTF-8, else bytes (as the careful reader). */
static PyObject *
one_string(const uint8_t *p, int64_t len)
{
    PyObject *s = PyUnicode_DecodeUTF8((const char *)p, (Py_ssize_t)len, NULL);
    if (s == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        s = PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)len);
    }
    return s;
}

/* The number of values in the Bytes message [pos, end), or -1 where it holds anything
 * but field-1 values with good lengths. */
static int64_t
count_values(const uint8_t *b, int64_t pos, int64_t end)
{
    int64_t count = 0, ln;
    while (pos < end) {
        if (read_field(b, &pos, end, 0x0A, &ln))
            return -1;
        pos += ln;
        count++;
    }
    return count;
}

PyDoc_STRVAR(strings_doc,
"strings(buf, starts, lengths) -> list | None\n\n"
"The Bytes messages buf[starts[i] : starts[i] + lengths[i]] (int64 arrays), as\n"
"`_bytes_column` reads them: per message its one value, or a list of its values (none or\n"
"several), each a str where it is valid UTF-8 and bytes otherwise. None where a message\n"
"holds anything but values (field 1) or leaves the buffer.");

static PyObject *
cr_strings(PyObject *self, PyObject *args)
{
    PyObject *result = NULL, *list = NULL;
    Py_buffer bv, sv, lv;
    const uint8_t *b;
    const int64_t *starts, *lengths;
    int64_t n, i;
    int declined = 0;

    (void)self;
    if (get_ranges(args, "OOO:strings", &bv, &sv, &lv) < 0)
        return NULL;
    b = (const uint8_t *)bv.buf;
    starts = (const int64_t *)sv.buf;
    lengths = (const int64_t *)lv.buf;
    n = (int64_t)(sv.len / 8);
    /* every message is checked before an object is made: a decline costs no allocation */
    for (i = 0; i < n && !declined; i++)
        declined = !inside(starts[i], lengths[i], bv.len) ||
                   count_values(b, starts[i], starts[i] + lengths[i]) < 0;
    if (declined) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    list = PyList_New((Py_ssize_t)n);
    if (list == NULL)
        goto done;
    for (i = 0; i < n; i++) {
        int64_t pos = starts[i], len = lengths[i], end, count, ln = 0, j;
        PyObject *item;
        /* making an object may run Python code (a collection, a finalizer) that writes
         * into the buffers (the ranges too): each range and value is checked again where
         * it is read */
        if (!inside(pos, len, bv.len))
            goto changed;
        end = pos + len;
        count = count_values(b, pos, end);
        if (count < 0)
            goto changed;
        if (count == 1) {
            if (read_field(b, &pos, end, 0x0A, &ln))
                goto changed;
            item = one_string(b + pos, ln);
        }
        else {
            item = PyList_New((Py_ssize_t)count);
            for (j = 0; item != NULL && j < count; j++) {
                PyObject *v;
                if (read_field(b, &pos, end, 0x0A, &ln)) {
                    Py_CLEAR(item);
                    goto changed;
                }
                v = one_string(b + pos, ln);
                pos += ln;
                if (v == NULL) {
                    Py_CLEAR(item);
                    break;
                }
                PyList_SET_ITEM(item, (Py_ssize_t)j, v);
            }
        }
        if (item == NULL)
            goto done;
        PyList_SET_ITEM(list, (Py_ssize_t)i, item);
    }
    result = list;
    list = NULL;
    goto done;
changed:
    PyErr_SetString(PyExc_BufferError, "strings: the data changed while it was read");
done:
    Py_XDECREF(list);
    PyBuffer_Release(&lv);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&bv);
    return result;
}

/* ------------------------------------------------------------------------------------ */
/* cuts                                                                                  */
/* ------------------------------------------------------------------------------------ */

PyDoc_STRVAR(cuts_doc,
"cuts(buf, start, length, step) -> bytearray | None\n\n"
"Where the message buf[start : start + length] may be cut into pieces of about `step`\n"
"bytes between its fields: a bytearray of native int64, for each multiple m of `step`\n"
"past `start` and before the end, the offset of the first field that starts at or after\n"
"start + m (each offset once, in order; none past the message's last field). None where\n"
"`_wire.scan` declines on the message (or it leaves the buffer): the twin declines too.");

static PyObject *
cr_cuts(PyObject *self, PyObject *args)
{
    PyObject *bo, *result = NULL;
    Py_buffer bv;
    long long start_ll, length_ll, step_ll;
    int64_t start, end, pos, next, k = 0, cap, fn, wt, vs, ve, *out;
    int failed = 0;

    (void)self;
    if (!PyArg_ParseTuple(args, "OLLL:cuts", &bo, &start_ll, &length_ll, &step_ll))
        return NULL;
    if (PyObject_GetBuffer(bo, &bv, PyBUF_SIMPLE) < 0)
        return NULL;
    start = (int64_t)start_ll;
    if (step_ll < 1 || !inside(start, (int64_t)length_ll, bv.len))
        goto decline;
    end = start + (int64_t)length_ll;
    cap = (int64_t)(length_ll / step_ll) + 1;
    result = new_table((Py_ssize_t)(cap * 8));
    if (result == NULL)
        goto done;
    out = (int64_t *)PyByteArray_AS_STRING(result);
    if (((uintptr_t)out % sizeof(int64_t)) != 0) {
        Py_CLEAR(result);
        goto decline;
    }
    pos = start;
    next = start + (int64_t)step_ll;
    Py_BEGIN_ALLOW_THREADS
    while (pos < end) {
        if (pos >= next) {
            if (k >= cap) {
                failed = 1;
                break;
            }
            out[k++] = pos;
            next = pos + (int64_t)step_ll - ((pos - start) % (int64_t)step_ll);
        }
        if (scan_field((const uint8_t *)bv.buf, &pos, end, &fn, &wt, &vs, &ve)) {
            failed = 1;
            break;
        }
    }
    Py_END_ALLOW_THREADS
    if (failed) {
        Py_CLEAR(result);
        goto decline;
    }
    if (PyByteArray_Resize(result, (Py_ssize_t)(k * 8)) < 0) {
        Py_CLEAR(result);
        goto done;
    }
    goto done;
decline:
    result = Py_None;
    Py_INCREF(result);
done:
    PyBuffer_Release(&bv);
    return result;
}

/* ------------------------------------------------------------------------------------ */
/* entries                                                                               */
/* ------------------------------------------------------------------------------------ */

#define ENTRY_KEYS 4096 /* MAX_KEYS of `_record_reader`: more distinct keys decline */
#define KEY_SLOTS 8192  /* the key table's slots: a power of two over 2 x ENTRY_KEYS */

/* The distinct (map, key) pairs of the records, numbered in order of first appearance;
 * for each the position of its last entry in the record being read (the last entry of a
 * key in a record wins), and what the counting pass finds of its entries that win and
 * hold a value. */
typedef struct {
    int32_t slot[KEY_SLOTS]; /* key number + 1; 0: empty */
    const uint8_t *key[ENTRY_KEYS];
    int64_t klen[ENTRY_KEYS];
    int64_t fn[ENTRY_KEYS];
    int64_t last[ENTRY_KEYS];
    int64_t held[ENTRY_KEYS];   /* how many entries */
    int64_t ttype[ENTRY_KEYS];  /* their member (-1: several) */
    int64_t width[ENTRY_KEYS];  /* the bytes of their values (-1: several, or keys or a shape) */
    int64_t at[ENTRY_KEYS + 1]; /* where the key's column (or group of entries) begins */
    int64_t seen[ENTRY_KEYS];   /* the keys in order of their first such entry */
    int32_t next[ENTRY_KEYS + 1]; /* the key (+ 1) that came after key k - 1 (0: first in
                                   * its record) last time: the guess for the next entry */
    int nkeys, nseen;
    int full; /* a new key came past ENTRY_KEYS */
} key_table_t;

/* The number of key `fn` (1 features, 2 label) `key[0:klen]`, a new one where it is new;
 * -1 past ENTRY_KEYS distinct keys. */
static int
key_number(key_table_t *t, int64_t fn, const uint8_t *key, int64_t klen)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)fn;
    int64_t j;
    uint32_t s;
    for (j = 0; j < klen; j++)
        h = (h ^ key[j]) * 0x100000001B3ULL;
    h ^= h >> 29;
    for (s = (uint32_t)h & (KEY_SLOTS - 1);; s = (s + 1) & (KEY_SLOTS - 1)) {
        int32_t id = t->slot[s] - 1;
        if (id < 0)
            break;
        if (t->fn[id] == fn && t->klen[id] == klen) {
            const uint8_t *other = t->key[id];
            for (j = 0; j < klen && other[j] == key[j]; j++)
                ;
            if (j == klen)
                return id;
        }
    }
    if (t->nkeys >= ENTRY_KEYS) {
        t->full = 1;
        return -1;
    }
    t->slot[s] = t->nkeys + 1;
    t->key[t->nkeys] = key;
    t->klen[t->nkeys] = klen;
    t->fn[t->nkeys] = fn;
    return t->nkeys++;
}

/* The number of key `fn` `key[0:klen]` where it is the key numbered `guess` (-1: none),
 * else `key_number`'s. Records mostly list their keys in one order, or rotate it: the key
 * that followed the previous entry's key last time is checked first, without a hash. */
static inline int
key_number_after(key_table_t *t, int guess, int64_t fn, const uint8_t *key, int64_t klen)
{
    if (guess >= 0 && t->fn[guess] == fn && t->klen[guess] == klen) {
        const uint8_t *other = t->key[guess];
        int64_t j;
        for (j = 0; j < klen && other[j] == key[j]; j++)
            ;
        if (j == klen)
            return guess;
    }
    return key_number(t, fn, key, klen);
}

/* A growing array of `item`-byte items (PyMem_Raw*: usable without the GIL). */
typedef struct {
    char *p;
    int64_t n, cap;
    size_t item;
} grow_t;

/* Room for one more item: its address, or NULL where memory runs out. */
static void *
grow_one(grow_t *g)
{
    if (g->n == g->cap) {
        int64_t cap = g->cap ? 2 * g->cap : 256;
        char *p;
        if ((uint64_t)cap > (uint64_t)PY_SSIZE_T_MAX / g->item)
            return NULL;
        p = (char *)PyMem_RawRealloc(g->p, (size_t)cap * g->item);
        if (p == NULL)
            return NULL;
        g->p = p;
        g->cap = cap;
    }
    return g->p + (size_t)g->n++ * g->item;
}

typedef struct { /* a map entry with a value, of the record being read */
    int64_t kid, at, ttype, occ0, occ1; /* its position; its tensors: occs[occ0:occ1] */
    int64_t total[3];                   /* the bytes of their values, keys and shape */
    int64_t s, e;                       /* its bytes, tag to end */
} entry_t;

typedef struct { /* one occurrence of the winning member of a value: a tensor message */
    int64_t s, e;
} span_t;

typedef struct { /* a record that holds more than its winning entries: their list */
    int64_t rec, w0, w1; /* its winners: wat[w0:w1] */
} trim_t;

typedef struct { /* a winning entry of such a record: its number and where it begins */
    int64_t at, s;
} wpos_t;

enum { COUNT, TABLE, DENSE }; /* the passes of `read_entries` */

typedef struct { /* dense columns filled while counting, on the guess that they will be */
    uint8_t *out;
    int64_t cap;
    int on; /* 0 once a record shows otherwise */
} guess_t;

typedef struct { /* the last uid, metadata or configuration string of a record */
    int64_t rec, fn, s, e;
} str_t;

/* Whether buf[0:len] is valid UTF-8, as Python's strict decoder reads it (no surrogates,
 * no overlong forms, nothing past U+10FFFF). */
static int
valid_utf8(const uint8_t *p, int64_t len)
{
    int64_t i = 0;
    while (i < len) {
        uint8_t c = p[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xC2 && c <= 0xDF) {
            if (len - i < 2 || (p[i + 1] & 0xC0) != 0x80)
                return 0;
            i += 2;
        }
        else if (c >= 0xE0 && c <= 0xEF) {
            uint8_t lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
            if (len - i < 3 || p[i + 1] < lo || p[i + 1] > hi || (p[i + 2] & 0xC0) != 0x80)
                return 0;
            i += 3;
        }
        else if (c >= 0xF0 && c <= 0xF4) {
            uint8_t lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
            if (len - i < 4 || p[i + 1] < lo || p[i + 1] > hi || (p[i + 2] & 0xC0) != 0x80 ||
                (p[i + 3] & 0xC0) != 0x80)
                return 0;
            i += 4;
        }
        else
            return 0;
    }
    return 1;
}

/* Copy the fields of the tensors occs[o0:o1] into out[cur[f]:lim[f]] by field (values,
 * keys, shape), each in wire order: 0, or -1 where they do not fill them exactly (the bytes
 * changed since they were counted). */
static int
copy_fields(const uint8_t *b, const span_t *o, int64_t o0, int64_t o1, uint8_t *out, int64_t *cur,
            const int64_t *lim)
{
    int64_t j;
    for (j = o0; j < o1; j++) {
        int64_t q = o[j].s, e = o[j].e, f, w, s, v;
        if (e - q >= 2 && e - q < 0x81 && b[q] == 0x0A && b[q + 1] == e - q - 2) { /* values alone */
            if (e - q - 2 > lim[0] - cur[0])
                return -1;
            copy_bytes(out + cur[0], b + q + 2, e - q - 2);
            cur[0] += e - q - 2;
            continue;
        }
        while (q < e) {
            if (scan_field(b, &q, e, &f, &w, &s, &v))
                return -1;
            if (w == 2 && s == v && f < 16) { /* empty: it, and a run of it, add nothing */
                q = skip_empty_run(b, q, e, (uint8_t)(f << 3 | 2));
                continue;
            }
            if (f < 1 || f > 3)
                continue;
            if (v - s > lim[f - 1] - cur[f - 1])
                return -1;
            copy_bytes(out + cur[f - 1], b + s, v - s);
            cur[f - 1] += v - s;
            if (w != 2) /* (more of them, most likely) */
                cur[f - 1] += unpacked_run(b, &q, e, (uint8_t)(f << 3 | w), out + cur[f - 1], lim[f - 1] - cur[f - 1]);
        }
    }
    return cur[0] == lim[0] && cur[1] == lim[1] && cur[2] == lim[2] ? 0 : -1;
}

/*
 * One pass over the records' map entries. COUNT: the entries that win and hold a value
 * (*rows of them, *bytes of packed runs) and, per key, `held`, `ttype`, `width` and the
 * order `seen`; with `strs`, each record's last uid, metadata and configuration (fields
 * 3, 4, 5; every occurrence checked to be UTF-8), in record order; in `trims` and `wat`,
 * each record that holds more than its winning entries (other entries, strings), with
 * the list of its winners (entry number, start): the later passes read those entries
 * alone (the others, before, between or after them, decided which win, but hold nothing
 * of the output). TABLE: the winners into `t` (10 columns of
 * `k`: record, key, member, the (start, length) in `out` of values, keys and shape; the
 * last column is the caller's) and their runs into out[0:cap]. DENSE: each winner's values
 * into its key's column, out[at[kid] + i * width[kid]]. 0, or -1 where `_read_part`
 * declines or might (this is never laxer; see the docstring of `entries`) or the bytes
 * changed between passes, or -2 where memory ran out.
 */
static int
read_entries(int pass, const uint8_t *b, Py_ssize_t size, const int64_t *starts, const int64_t *lengths,
             int64_t i0, int64_t n, key_table_t *keys, grow_t *ents, grow_t *occs, grow_t *trims, grow_t *wat, int full,
             grow_t *strs, guess_t *guess, uint8_t *out, int64_t cap, int64_t *t, int64_t k, int64_t *rows,
             int64_t *bytes)
{
    int64_t i, j, next_trim = 0;
    const wpos_t *wats = (const wpos_t *)wat->p;
    for (i = i0; i < n; i++) {
        int64_t pos = starts[i], len = lengths[i], end, fn, wt, vs, ve, count = 0;
        int gone[2] = {0, 0}; /* whether the last entry of key "" of a map holds no value */
        int64_t str_s[3] = {-1, -1, -1}, str_e[3] = {0, 0, 0}, won, won_bytes = 0;
        int64_t tw = -1, tw1 = -1, lw = -1, wat0 = wat->n; /* a listed record's winners: wats[tw:tw1] */
        int prev = 0; /* the previous entry's key + 1 (0: none yet) */
        const span_t *o;
        if (!inside(pos, len, size))
            return -1;
        end = pos + len;
        if (pass != COUNT && next_trim < trims->n) {
            const trim_t *tr = (const trim_t *)trims->p + next_trim;
            if (tr->rec == i) { /* its winning entries alone */
                lw = tw = tr->w0;
                tw1 = tr->w1;
                if (tw < 0 || tw > tw1 || tw1 > wat->n)
                    return -1;
                next_trim++;
            }
        }
        ents->n = 0;
        occs->n = 0;
        while (pos < end) {
            int64_t p, f2, w2, s2, e2, ks = 0, kl = 0, ttype = 0, occ0 = occs->n, total[3] = {0, 0, 0};
            int64_t tag_at;
            int has_key = 0, kid;
            entry_t *ent;
            if (lw >= 0) { /* the next winner of a listed record */
                if (lw == tw1)
                    break;
                pos = wats[lw].s;
                count = wats[lw].at;
                lw++;
                if (pos < starts[i] || pos >= end)
                    return -1;
            }
            tag_at = pos;
            if (end - pos >= 10 && (b[pos] == 0x0A || b[pos] == 0x12) && b[pos + 1] < 0x80) {
                /* The common entry, read without `scan_field`: a key, then one value part of
                 * one tensor of packed values alone, every length one byte (what the SDK
                 * and the encoder write): 0A|12 L, 0A K key, 12 L-K-4, member L-K-6, 0A
                 * L-K-8 values. It reads as the loop below reads it. */
                int64_t p0 = pos + 2, e0 = p0 + b[pos + 1], v0, m;
                if (e0 <= end && b[p0] == 0x0A && b[p0 + 1] < 0x80) {
                    v0 = p0 + 2 + b[p0 + 1];
                    if (e0 - v0 >= 6 && b[v0] == 0x12 && b[v0 + 1] == e0 - v0 - 2 && b[v0 + 3] == e0 - v0 - 4 &&
                        b[v0 + 4] == 0x0A && b[v0 + 5] == e0 - v0 - 6) {
                        m = b[v0 + 2] >> 3;
                        if ((b[v0 + 2] & 7) == 2 &&
                            (m == 7 ? e0 == v0 + 6 || b[e0 - 1] < 0x80
                                    : (m == 2 || m == 3) && (e0 - v0 - 6) % (m == 3 ? 8 : 4) == 0)) {
                            span_t *sp = (span_t *)grow_one(occs);
                            if (sp == NULL)
                                return -2;
                            sp->s = v0 + 4;
                            sp->e = e0;
                            fn = b[pos] >> 3;
                            ks = p0 + 2;
                            kl = b[p0 + 1];
                            ttype = m;
                            total[0] = e0 - v0 - 6;
                            ve = pos = e0;
                            goto entry_read;
                        }
                    }
                }
            }
            if (scan_field(b, &pos, end, &fn, &wt, &vs, &ve) || wt != 2)
                return -1;
            if (fn != 1 && fn != 2) {
                /* a string: the last one wins, and each must be UTF-8 (the careful reader
                 * checks each) */
                if (!full || fn < 3 || fn > 5)
                    return -1;
                if (pass == COUNT) {
                    if (!valid_utf8(b + vs, ve - vs))
                        return -1;
                    str_s[fn - 3] = vs;
                    str_e[fn - 3] = ve;
                }
                continue;
            }
            if (vs == ve && gone[fn - 1]) {
                /* an empty entry (key "", no value) where the last entry of key "" holds no
                 * value either adds nothing: it, and a run of such */
                pos = skip_empty_run(b, pos, end, (uint8_t)(fn << 3 | 2));
                while (end - pos >= 2 && b[pos + 1] == 0 && ((b[pos] == 0x0A && gone[0]) || (b[pos] == 0x12 && gone[1])))
                    pos += 2;
                continue;
            }
            for (p = vs; p < ve;) {
                if (scan_field(b, &p, ve, &f2, &w2, &s2, &e2) || w2 != 2)
                    return -1;
                if (f2 == 1) { /* the key (twice: the careful reader checks each) */
                    if (has_key)
                        return -1;
                    has_key = 1;
                    ks = s2;
                    kl = e2 - s2;
                }
                else if (f2 == 2) { /* a part of the value */
                    int64_t q = s2, f3, w3, s3, e3;
                    if (q == e2) { /* empty parts add nothing */
                        p = skip_empty_run(b, p, ve, 0x12);
                        continue;
                    }
                    while (q < e2) {
                        span_t *sp;
                        if (scan_field(b, &q, e2, &f3, &w3, &s3, &e3) || w3 != 2 ||
                            (f3 != 2 && f3 != 3 && f3 != 7))
                            return -1;
                        if (f3 != ttype) { /* the oneof: another member replaces it */
                            ttype = f3;
                            occs->n = occ0;
                            total[0] = total[1] = total[2] = 0;
                        }
                        /* (fields not packed: with `full` alone) */
                        if (tensor_check(b, s3, e3, f3, total, !full))
                            return -1;
                        sp = (span_t *)grow_one(occs);
                        if (sp == NULL)
                            return -2;
                        sp->s = s3;
                        sp->e = e3;
                        if (s3 == e3) /* empty tensors of this member after it add nothing */
                            q = skip_empty_run(b, q, e2, (uint8_t)(f3 << 3 | 2));
                    }
                }
                else
                    return -1;
            }
        entry_read:
            if (kl > MAX_KEY)
                return -1;
            kid = key_number_after(keys, keys->next[prev] - 1, fn, b + ks, kl);
            if (kid < 0)
                return -1;
            keys->next[prev] = kid + 1;
            prev = kid + 1;
            keys->last[kid] = count;
            if (kl == 0)
                gone[fn - 1] = ttype == 0;
            if (ttype != 0) { /* (an entry without a value only removes the earlier ones) */
                ent = (entry_t *)grow_one(ents);
                if (ent == NULL)
                    return -2;
                ent->kid = kid;
                ent->at = count;
                ent->ttype = ttype;
                ent->occ0 = occ0;
                ent->occ1 = occs->n;
                ent->s = tag_at;
                ent->e = ve;
                memcpy(ent->total, total, sizeof(total));
            }
            else
                occs->n = occ0;
            count++;
        }
        /* the last entry of each key, in wire order, where it holds a value */
        o = (const span_t *)occs->p;
        won = 0;
        for (j = 0; j < ents->n; j++) {
            const entry_t *e = (const entry_t *)ents->p + j;
            const int64_t *tot = e->total;
            int64_t kid = e->kid, r = *rows, cur[3], lim[3], f;
            if (tw >= 0) { /* (the entries read are the winners noted) */
                if (tw == tw1 || wats[tw].at != e->at)
                    return -1;
                tw++;
            }
            else if (keys->last[kid] != e->at)
                continue;
            if (pass == COUNT) {
                wpos_t *wa = (wpos_t *)grow_one(wat);
                if (wa == NULL)
                    return -2;
                wa->at = e->at;
                wa->s = e->s;
                wats = (const wpos_t *)wat->p;
                won_bytes += e->e - e->s;
            }
            if (tot[0] > cap - *bytes || tot[1] > cap - *bytes - tot[0] ||
                tot[2] > cap - *bytes - tot[0] - tot[1])
                return -1;
            if (pass == COUNT) {
                int64_t w = tot[1] || tot[2] ? -1 : tot[0];
                if (keys->held[kid] == 0) {
                    keys->seen[keys->nseen++] = kid;
                    keys->ttype[kid] = e->ttype;
                    keys->width[kid] = w;
                }
                else {
                    if (keys->ttype[kid] != e->ttype)
                        keys->ttype[kid] = -1;
                    if (keys->width[kid] != w)
                        keys->width[kid] = -1;
                }
                keys->held[kid]++;
                /* the guess: every record so far held this key, of one member and width */
                if (guess != NULL && guess->on) {
                    if (keys->held[kid] != i + 1 || keys->ttype[kid] != e->ttype || keys->width[kid] != w ||
                        w < 0 || keys->at[kid] + (i + 1) * w > guess->cap)
                        guess->on = 0;
                    else {
                        cur[0] = keys->at[kid] + i * w;
                        cur[1] = cur[2] = lim[1] = lim[2] = 0;
                        lim[0] = cur[0] + w;
                        if (copy_fields(b, o, e->occ0, e->occ1, guess->out, cur, lim))
                            guess->on = 0;
                    }
                }
            }
            else if (pass == TABLE) {
                if (r >= k)
                    return -1;
                t[r] = i;
                t[k + r] = kid;
                t[2 * k + r] = e->ttype;
                cur[0] = *bytes;
                for (f = 0; f < 3; f++) {
                    t[(3 + 2 * f) * k + r] = cur[f];
                    t[(4 + 2 * f) * k + r] = tot[f];
                    lim[f] = cur[f] + tot[f];
                    if (f < 2)
                        cur[f + 1] = lim[f];
                }
                if (copy_fields(b, o, e->occ0, e->occ1, out, cur, lim))
                    return -1;
            }
            else { /* DENSE */
                int64_t w = keys->width[kid];
                if (tot[0] != w || tot[1] || tot[2] || e->ttype != keys->ttype[kid] ||
                    keys->at[kid] + (i + 1) * w > cap)
                    return -1;
                cur[0] = keys->at[kid] + i * w;
                cur[1] = cur[2] = lim[1] = lim[2] = 0;
                lim[0] = cur[0] + w;
                if (copy_fields(b, o, e->occ0, e->occ1, out, cur, lim))
                    return -1;
            }
            *rows += 1;
            *bytes += tot[0] + tot[1] + tot[2];
            won++;
        }
        if (pass != COUNT) {
            if (tw != tw1)
                return -1; /* (the bytes changed) */
            continue;
        }
        if (guess != NULL && won != keys->nseen)
            guess->on = 0; /* a key of an earlier record is missing */
        if (won_bytes != len) {
            trim_t *tr = (trim_t *)grow_one(trims);
            if (tr == NULL)
                return -2;
            tr->rec = i;
            tr->w0 = wat0;
            tr->w1 = wat->n;
        }
        else
            wat->n = wat0; /* (its winners are all of it: read whole, its entries decide) */
        if (strs != NULL)
            for (j = 0; j < 3; j++) {
                str_t *st;
                if (str_s[j] < 0)
                    continue;
                st = (str_t *)grow_one(strs);
                if (st == NULL)
                    return -2;
                st->rec = i;
                st->fn = j + 3;
                st->s = str_s[j];
                st->e = str_e[j];
            }
    }
    return 0;
}

/* The records' last uid, metadata and configuration strings `strs` (in record order) as a
 * tuple of three lists of n items, a str or None each (None for a field no record holds);
 * NULL with an exception set. Each was checked to be UTF-8: a decoding error means the
 * bytes changed since (a BufferError). */
static PyObject *
found_strings(const uint8_t *b, const grow_t *strs, int64_t n)
{
    PyObject *lists[3] = {NULL, NULL, NULL}, *result = NULL;
    const str_t *st = (const str_t *)strs->p;
    int64_t r, i;
    int j;
    for (r = 0; r < strs->n; r++) {
        PyObject *text;
        j = (int)(st[r].fn - 3);
        if (j < 0 || j > 2 || st[r].rec < 0 || st[r].rec >= n)
            goto fail; /* (never) */
        if (lists[j] == NULL) {
            if ((lists[j] = PyList_New((Py_ssize_t)n)) == NULL)
                goto fail;
            for (i = 0; i < n; i++) {
                Py_INCREF(Py_None);
                PyList_SET_ITEM(lists[j], i, Py_None);
            }
        }
        text = PyUnicode_DecodeUTF8((const char *)b + st[r].s, (Py_ssize_t)(st[r].e - st[r].s), "strict");
        if (text == NULL) {
            if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                PyErr_Clear();
                PyErr_SetString(PyExc_BufferError, "entries: the data changed while it was read");
            }
            goto fail;
        }
        Py_DECREF(PyList_GET_ITEM(lists[j], st[r].rec));
        PyList_SET_ITEM(lists[j], st[r].rec, text);
    }
    result = PyTuple_New(3);
    if (result == NULL)
        goto fail;
    for (j = 0; j < 3; j++) {
        if (lists[j] == NULL) {
            Py_INCREF(Py_None);
            lists[j] = Py_None;
        }
        PyTuple_SET_ITEM(result, j, lists[j]);
    }
    return result;
fail:
    for (j = 0; j < 3; j++)
        Py_XDECREF(lists[j]);
    if (!PyErr_Occurred())
        PyErr_SetString(PyExc_BufferError, "entries: the data changed while it was read");
    return NULL;
}

PyDoc_STRVAR(entries_doc,
"entries(buf, starts, lengths, full=False) -> (names, runs, table | columns[, strings]) | int | None\n\n"
"The map entries of the records buf[starts[i] : starts[i] + lengths[i]] (int64 arrays), as\n"
"`_record_reader._read_part` reads them, without tables of fields: records of `features`\n"
"and `label` entries alone, each entry of at most one key (of up to 64 bytes) and any\n"
"number of value parts, each part of float32, float64 or int32 tensors alone, their\n"
"fields packed. With `full`, also records with uid, metadata and configuration strings,\n"
"and tensor fields not packed (runs of unpacked elements read by a tight loop). A key's\n"
"last entry in a record wins; a value's last member wins, and its occurrences after the\n"
"last one of another member merge; a tensor's fields (values 1, keys 2, shape 3) are\n"
"joined in wire order. `names` lists the distinct (map field, key bytes) pairs, numbered\n"
"in order of first appearance (at most 4096). A first pass counts, a second fills what\n"
"was counted, reading again of a record that holds other fields its winning entries alone; dense\n"
"columns are filled by the first pass where record 0 shows them and the others follow.\n\n"
"Where every record holds every key that has a value as a float32 or float64 tensor of\n"
"the same number of values, without keys and without a shape, the third item is a list\n"
"`columns` of (key number, member, bytes of a record's values), in order of the keys'\n"
"first entries, and `runs` holds their columns one after another (each n rows of those\n"
"bytes). Otherwise `table` is 10 * k native int64 for the k entries that win and hold a\n"
"value, in wire order: their record, key number, member (2, 3, 7), the (start, length) in\n"
"`runs` of their values, keys and shape, and last the entries' order grouped by key\n"
"(stable).\n\n"
"With `full`, a fourth item: the records' uid, metadata and configuration, a list of n\n"
"items (each record's last string of the field, a str, or None) or None where no record\n"
"holds the field (every occurrence is checked to be UTF-8; only the last becomes a str).\n\n"
"None where `_read_part` declines or might: any other field (unknown fields; without\n"
"`full`, strings), a wire type protobuf refuses there, a key twice in an entry, a Bytes\n"
"value, without `full` a tensor field that is not packed (`tensor_join` reads those), a\n"
"run `_tensor_fields` declines, a string that is not UTF-8; too many keys: then the int\n"
"4097 (the keys it met).");

static PyObject *
cr_entries(PyObject *self, PyObject *args)
{
    PyObject *result = NULL, *runs = NULL, *table = NULL, *names = NULL, *columns = NULL, *strings = NULL;
    PyObject *bo, *so, *lo;
    Py_buffer bv, sv, lv;
    const int64_t *starts, *lengths;
    int64_t n, i, k = 0, total = 0, bytes = 0, *t = NULL;
    key_table_t *keys = NULL;
    grow_t ents = {NULL, 0, 0, sizeof(entry_t)}, occs = {NULL, 0, 0, sizeof(span_t)};
    grow_t trims = {NULL, 0, 0, sizeof(trim_t)}, strs = {NULL, 0, 0, sizeof(str_t)};
    grow_t wat = {NULL, 0, 0, sizeof(wpos_t)};
    guess_t guess = {NULL, 0, 0};
    int64_t rows = 0;
    int got = 0, c, dense = 1, full = 0;

    (void)self;
    if (!PyArg_ParseTuple(args, "OOO|p:entries", &bo, &so, &lo, &full))
        return NULL;
    if (get_range_buffers(bo, so, lo, &bv, &sv, &lv) < 0)
        return NULL;
    starts = (const int64_t *)sv.buf;
    lengths = (const int64_t *)lv.buf;
    n = (int64_t)(sv.len / 8);
    for (i = 0; i < n; i++) {
        int64_t l = lengths[i];
        if (l < 0 || l > (int64_t)bv.len - total)
            goto decline; /* overlapping records (frame_table never gives such) */
        total += l;
    }
    keys = (key_table_t *)PyMem_RawCalloc(1, sizeof(key_table_t));
    if (keys == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    /* First count (no output: a decline costs no allocation but the records' entries),
     * then fill exactly what was counted (the runs of a record take at most its bytes),
     * reading again of a record that holds other fields its winning entries alone. Where record 0
     * holds float tensors of packed values alone, the count fills dense columns of its
     * keys as it goes, on the guess that every record holds them alike (as many bytes as
     * the records hold at most); where the guess holds, that is the only pass. */
    Py_BEGIN_ALLOW_THREADS
    got = read_entries(COUNT, (const uint8_t *)bv.buf, bv.len, starts, lengths, 0, n > 0, keys, &ents, &occs,
                       &trims, &wat, full, full ? &strs : NULL, NULL, NULL, total, NULL, 0, &k, &bytes);
    Py_END_ALLOW_THREADS
    if (got == -2) {
        PyErr_NoMemory();
        goto done;
    }
    if (got < 0)
        goto decline;
    if (n > 1 && keys->nseen > 0) {
        int64_t at = 0;
        int ok = 1;
        for (c = 0; c < keys->nseen && ok; c++) {
            int64_t kid = keys->seen[c], w = keys->width[kid], tt = keys->ttype[kid];
            ok = (tt == 2 || tt == 3) && w >= 0 && w % (tt == 3 ? 8 : 4) == 0 && (w == 0 || n <= (total - at) / w);
            keys->at[kid] = at;
            at += ok ? n * w : 0;
        }
        if (ok) {
            int64_t r0 = 0, b0 = 0;
            runs = new_table((Py_ssize_t)at);
            if (runs == NULL)
                goto done;
            guess.out = (uint8_t *)PyByteArray_AS_STRING(runs);
            guess.cap = at;
            got = read_entries(DENSE, (const uint8_t *)bv.buf, bv.len, starts, lengths, 0, 1, keys, &ents, &occs,
                               &trims, &wat, full, NULL, NULL, guess.out, at, NULL, 0, &r0, &b0);
            if (got == -2) {
                PyErr_NoMemory();
                goto done;
            }
            guess.on = got == 0;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    got = read_entries(COUNT, (const uint8_t *)bv.buf, bv.len, starts, lengths, 1, n, keys, &ents, &occs, &trims, &wat,
                       full, full ? &strs : NULL, guess.on ? &guess : NULL, NULL, total, NULL, 0,
                       &k, &bytes);
    Py_END_ALLOW_THREADS
    if (got == -2) {
        PyErr_NoMemory();
        goto done;
    }
    if (got < 0 || (uint64_t)k > (uint64_t)PY_SSIZE_T_MAX / 80)
        goto decline;
    for (c = 0; c < keys->nseen && dense; c++) {
        int64_t kid = keys->seen[c], w = keys->width[kid], tt = keys->ttype[kid];
        dense = keys->held[kid] == n && (tt == 2 || tt == 3) && w >= 0 && w % (tt == 3 ? 8 : 4) == 0;
    }
    dense = dense && keys->nseen > 0;
    if (dense) { /* the columns one after another, in order of first entry */
        int64_t at = 0;
        for (c = 0; c < keys->nseen; c++) {
            int64_t kid = keys->seen[c];
            keys->at[kid] = at;
            at += n * keys->width[kid];
        }
        if (at != bytes)
            goto decline; /* (never: every record holds every key once) */
    }
    if (dense && guess.on) /* filled while counting */
        goto filled;
    Py_CLEAR(runs);
    runs = new_table((Py_ssize_t)bytes);
    if (!dense)
        table = new_table((Py_ssize_t)(k * 80));
    if (runs == NULL || (!dense && table == NULL))
        goto done;
    if (!dense) {
        t = (int64_t *)PyByteArray_AS_STRING(table);
        if (k && ((uintptr_t)t % sizeof(int64_t)) != 0)
            goto decline; /* never seen: the allocator aligns to 16 */
    }
    Py_BEGIN_ALLOW_THREADS
    total = 0;
    got = read_entries(dense ? DENSE : TABLE, (const uint8_t *)bv.buf, bv.len, starts, lengths, 0, n, keys, &ents,
                       &occs, &trims, &wat, full, NULL, NULL, (uint8_t *)PyByteArray_AS_STRING(runs), bytes, t, k,
                       &rows, &total);
    Py_END_ALLOW_THREADS
    if (got == -2) {
        PyErr_NoMemory();
        goto done;
    }
    if (got < 0 || rows != k || total != bytes) {
        PyErr_SetString(PyExc_BufferError, "entries: the data changed while it was read");
        goto done;
    }
filled:
    if (dense) {
        columns = PyList_New(keys->nseen);
        if (columns == NULL)
            goto done;
        for (c = 0; c < keys->nseen; c++) {
            int64_t kid = keys->seen[c];
            PyObject *item = Py_BuildValue("(LLL)", (long long)kid, (long long)keys->ttype[kid],
                                           (long long)keys->width[kid]);
            if (item == NULL)
                goto done;
            PyList_SET_ITEM(columns, c, item);
        }
    }
    else { /* the entries grouped by key, in order (a counting sort) */
        memset(keys->at, 0, sizeof(keys->at));
        for (i = 0; i < k; i++)
            keys->at[t[k + i] + 1]++;
        for (c = 0; c < keys->nkeys; c++)
            keys->at[c + 1] += keys->at[c];
        for (i = 0; i < k; i++)
            t[9 * k + keys->at[t[k + i]]++] = i;
    }
    names = PyList_New(keys->nkeys);
    if (names == NULL)
        goto done;
    for (c = 0; c < keys->nkeys; c++) {
        PyObject *item = Py_BuildValue("(Ly#)", (long long)keys->fn[c], (const char *)keys->key[c],
                                       (Py_ssize_t)keys->klen[c]);
        if (item == NULL)
            goto done;
        PyList_SET_ITEM(names, c, item);
    }
    if (!full) {
        result = PyTuple_Pack(3, names, runs, dense ? columns : table);
        goto done;
    }
    if ((strings = found_strings((const uint8_t *)bv.buf, &strs, n)) == NULL)
        goto done;
    result = PyTuple_Pack(4, names, runs, dense ? columns : table, strings);
    goto done;
decline:
    /* past the keys it reads: how many it met (the caller may refuse the body for them) */
    result = keys != NULL && keys->full ? PyLong_FromLong(ENTRY_KEYS + 1) : Py_None;
    if (result == Py_None)
        Py_INCREF(result);
done:
    Py_XDECREF(names);
    Py_XDECREF(runs);
    Py_XDECREF(table);
    Py_XDECREF(columns);
    Py_XDECREF(strings);
    PyMem_RawFree(keys);
    PyMem_RawFree(ents.p);
    PyMem_RawFree(occs.p);
    PyMem_RawFree(trims.p);
    PyMem_RawFree(wat.p);
    PyMem_RawFree(strs.p);
    PyBuffer_Release(&lv);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&bv);
    return result;
}

/* ---------------------------------------------------------------------------------------
 * live_keys: the columns a batch of map entries makes, counted without building them, for
 * a column limit (Limits.max_columns) where the readers stop at their 4,096 keys: the
 * distinct (map field, key) pairs whose last entry in some record holds a value. An entry
 * holds a value where a value part of it holds a member of the Value's oneof (a Value
 * without one is none, as an entry without a value: it removes the key from its record;
 * so the count is never more than the careful reader's columns). Counting stops
 * past `limit`. Conservative: where the careful reader might read a record otherwise (a
 * field it refuses, a key twice in an entry), -1: not sure.
 * ------------------------------------------------------------------------------------- */

typedef struct {
    const uint8_t *key;
    int64_t klen, fn;
    int64_t rec;  /* the last record that named it (-1: none) */
    int valued;   /* its last entry in that record held a value */
    int column;   /* counted */
} live_key_t;

typedef struct {
    live_key_t *keys;
    int64_t nkeys, kcap;
    int32_t *slot; /* key index + 1, 0 empty; a power of two, at most half full */
    int64_t nslots;
} live_table_t;

static int
live_grow(live_table_t *t)
{
    int64_t ns = t->nslots ? 2 * t->nslots : 16384, i;
    int32_t *slot;
    if (ns > (int64_t)1 << 30)
        return -1;
    slot = (int32_t *)PyMem_RawCalloc((size_t)ns, sizeof(int32_t));
    if (slot == NULL)
        return -1;
    for (i = 0; i < t->nkeys; i++) {
        const live_key_t *k = &t->keys[i];
        uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)k->fn;
        int64_t j;
        uint64_t s;
        for (j = 0; j < k->klen; j++)
            h = (h ^ k->key[j]) * 0x100000001B3ULL;
        h ^= h >> 29;
        for (s = h & (uint64_t)(ns - 1); slot[s]; s = (s + 1) & (uint64_t)(ns - 1))
            ;
        slot[s] = (int32_t)(i + 1);
    }
    PyMem_RawFree(t->slot);
    t->slot = slot;
    t->nslots = ns;
    return 0;
}

/* The index of key `fn`:`key[0:klen]`, a new one where it is new; -1 out of memory. */
static int64_t
live_key(live_table_t *t, int64_t fn, const uint8_t *key, int64_t klen)
{
    uint64_t h = 0xcbf29ce484222325ULL ^ (uint64_t)fn, s;
    int64_t j;
    live_key_t *k;
    if (2 * (t->nkeys + 1) > t->nslots && live_grow(t))
        return -1;
    for (j = 0; j < klen; j++)
        h = (h ^ key[j]) * 0x100000001B3ULL;
    h ^= h >> 29;
    for (s = h & (uint64_t)(t->nslots - 1);; s = (s + 1) & (uint64_t)(t->nslots - 1)) {
        int32_t id = t->slot[s] - 1;
        if (id < 0)
            break;
        k = &t->keys[id];
        if (k->fn == fn && k->klen == klen && memcmp(k->key, key, (size_t)klen) == 0)
            return id;
    }
    if (t->nkeys == t->kcap) {
        int64_t cap = t->kcap ? 2 * t->kcap : 4096;
        live_key_t *p = (live_key_t *)PyMem_RawRealloc(t->keys, (size_t)cap * sizeof(live_key_t));
        if (p == NULL)
            return -1;
        t->keys = p;
        t->kcap = cap;
    }
    k = &t->keys[t->nkeys];
    k->key = key;
    k->klen = klen;
    k->fn = fn;
    k->rec = -1;
    k->valued = 0;
    k->column = 0;
    t->slot[s] = (int32_t)(t->nkeys + 1);
    return t->nkeys++;
}

/* The count (up to limit + 1), -1 not sure, -2 out of memory. With `named` (distinct keys
 * known to be named, at least) over `limit`: when no entry lacks a value, every key named is
 * a column, and a first pass that looks up no key says so (limit + 1). */
static int64_t
count_live_keys(const uint8_t *b, Py_ssize_t size, const int64_t *starts, const int64_t *lengths, int64_t n,
                int64_t limit, int64_t named, live_table_t *t, grow_t *touched)
{
    int64_t i, j, columns = 0;
    int pass, first = named > limit ? 0 : 1, unvalued = 0;
    for (pass = first; pass < 2; pass++) {
    for (i = 0; i < n; i++) {
        int64_t pos = starts[i], len = lengths[i], end, fn, wt, vs, ve;
        if (!inside(pos, len, size))
            return -1;
        end = pos + len;
        touched->n = 0;
        while (pos < end) {
            int64_t p, f2, w2, s2, e2, ks = 0, kl = 0, id;
            int has_key = 0, valued = 0;
            if (scan_field(b, &pos, end, &fn, &wt, &vs, &ve))
                return -1;
            if (fn != 1 && fn != 2)
                continue; /* uid, metadata, configuration, others: no column */
            if (wt != 2)
                return -1;
            for (p = vs; p < ve;) {
                if (scan_field(b, &p, ve, &f2, &w2, &s2, &e2))
                    return -1;
                if (f2 == 1) {
                    if (w2 != 2 || has_key)
                        return -1;
                    has_key = 1;
                    ks = s2;
                    kl = e2 - s2;
                }
                else if (f2 == 2) {
                    int64_t q = s2, f3, w3, s3, e3;
                    if (w2 != 2)
                        return -1;
                    while (q < e2) { /* a member of the Value's oneof (an unknown field: none) */
                        if (scan_field(b, &q, e2, &f3, &w3, &s3, &e3))
                            return -1;
                        valued |= f3 == 2 || f3 == 3 || f3 == 7 || f3 == 9;
                    }
                }
            }
            if (pass == 0) {
                if (!valued) {
                    unvalued = 1; /* an entry without a value: the keys must be looked up */
                    break;
                }
                continue;
            }
            id = live_key(t, fn, b + ks, kl);
            if (id < 0)
                return -2;
            if (t->keys[id].rec != i) {
                int64_t *slot = (int64_t *)grow_one(touched);
                if (slot == NULL)
                    return -2;
                *slot = id;
                t->keys[id].rec = i;
            }
            t->keys[id].valued = valued;
        }
        if (pass == 0) {
            if (unvalued)
                break;
            continue;
        }
        for (j = 0; j < touched->n; j++) {
            live_key_t *k = &t->keys[((const int64_t *)touched->p)[j]];
            if (k->valued && !k->column) {
                k->column = 1;
                if (++columns > limit)
                    return columns;
            }
        }
    }
    if (pass == 0 && !unvalued)
        return limit + 1; /* every entry holds a value: the keys named are columns */
    }
    return columns;
}

PyDoc_STRVAR(live_keys_doc,
"live_keys(buf, starts, lengths, limit, named=0) -> int\n\n"
"The columns the map entries of the records buf[starts[i] : starts[i] + lengths[i]] make\n"
"(int64 arrays): the distinct (map field, key bytes) pairs whose last entry in some record\n"
"holds a value (a member of the Value's oneof), counted up to limit + 1 without building\n"
"anything, for a column limit past the readers' 4,096 keys; -1 where not sure (a field the\n"
"careful reader may refuse, a key twice in an entry). With `named` over limit (the keys\n"
"`entries` met), a first pass without key lookups answers limit + 1 where every entry holds\n"
"a value.");

static PyObject *
cr_live_keys(PyObject *self, PyObject *args)
{
    Py_buffer bv, sv, lv;
    long long limit, named = 0;
    int64_t n, got;
    live_table_t t = {NULL, 0, 0, NULL, 0};
    grow_t touched = {NULL, 0, 0, sizeof(int64_t)};
    (void)self;
    if (!PyArg_ParseTuple(args, "y*y*y*L|L", &bv, &sv, &lv, &limit, &named))
        return NULL;
    if (sv.len % 8 || lv.len != sv.len || limit < 0) {
        PyBuffer_Release(&bv);
        PyBuffer_Release(&sv);
        PyBuffer_Release(&lv);
        PyErr_SetString(PyExc_ValueError, "live_keys: bad starts, lengths or limit");
        return NULL;
    }
    n = sv.len / 8;
    Py_BEGIN_ALLOW_THREADS
    got = count_live_keys((const uint8_t *)bv.buf, bv.len, (const int64_t *)sv.buf, (const int64_t *)lv.buf, n,
                          (int64_t)limit, (int64_t)named, &t, &touched);
    Py_END_ALLOW_THREADS
    PyMem_RawFree(t.keys);
    PyMem_RawFree(t.slot);
    PyMem_RawFree(touched.p);
    PyBuffer_Release(&bv);
    PyBuffer_Release(&sv);
    PyBuffer_Release(&lv);
    if (got == -2)
        return PyErr_NoMemory();
    return PyLong_FromLongLong((long long)got);
}

static PyMethodDef methods[] = {
    {"walk", cr_walk, METH_VARARGS, walk_doc},
    {"gather", cr_gather, METH_VARARGS, gather_doc},
    {"varints", cr_varints, METH_VARARGS, varints_doc},
    {"keys32", cr_keys32, METH_VARARGS, keys32_doc},
    {"same_gaps", cr_same_gaps, METH_VARARGS, same_gaps_doc},
    {"strings", cr_strings, METH_VARARGS, strings_doc},
    {"scan", cr_scan, METH_VARARGS, scan_doc},
    {"tensor_join", cr_tensor_join, METH_VARARGS, tensor_join_doc},
    {"cuts", cr_cuts, METH_VARARGS, cuts_doc},
    {"entries", cr_entries, METH_VARARGS, entries_doc},
    {"live_keys", cr_live_keys, METH_VARARGS, live_keys_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    "sm_payloads.formats._crecordio",
    "Optional C loops for the RecordIO-protobuf decoder (see sm_payloads/_crecordio.c).",
    -1,
    methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__crecordio(void)
{
    return PyModule_Create(&module);
}
