/* The CAD OSE context memory in C: the pure-Python memory's step, walk for walk.
 *
 * Why C: a step of the numpy memory pays a dozen fixed-cost array calls (bench/cad_steps.py), so
 * CAD could not keep up with a live default's rate. This file follows
 * tests/models/cad_memory_python.py (the oracle checked against the reference CAD OSE) line by
 * line, with hash tables instead of dicts; tests/models/test_cad_native.py checks every plan and
 * every stored column against that oracle. Python loads it with ctypes (cad_native.py), so it
 * needs no Python headers and no build step at install time.
 *
 * Facts: a value fact is a bit 0..63 of a mask; a neuron fact is NEURON + context id. A left
 * semi-context is a sorted list of facts, a right one a value mask. Hashes of fact tuples are
 * CPython's tuple hash, because the reference ranks equally used contexts by them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NEURON ((int64_t)1 << 31)
#define ERR_MEMORY (-1)
#define ERR_VALUE (-2)

typedef struct { int64_t *d; int64_t n, cap; } Vec;

static int vgrow(Vec *v) {
    int64_t cap = v->cap ? 2 * v->cap : 4;
    int64_t *d = realloc(v->d, (size_t)cap * sizeof(int64_t));
    if (!d) return ERR_MEMORY;
    v->d = d;
    v->cap = cap;
    return 0;
}

/* Inline, the growth out of line: a step pushes a few hundred ids, each a call before (bench/README.md). */
static inline int vpush(Vec *v, int64_t x) {
    if (v->n == v->cap && vgrow(v)) return ERR_MEMORY;
    v->d[v->n++] = x;
    return 0;
}


/* memcpy of n values, where an empty Vec's NULL data is fine (memcpy's arguments must not be NULL). */
static void copy_values(void *dst, const void *src, int64_t n, size_t size) {
    if (n > 0) memcpy(dst, src, (size_t)n * size);
}

/* CPython's hash of a tuple of small non-negative ints (Objects/tupleobject.c, 64-bit). */
#define XXPRIME_1 11400714785074694791ULL
#define XXPRIME_2 14029467366897019727ULL
#define XXPRIME_5 2870177450012600261ULL

static int64_t tuple_hash(const int64_t *items, int64_t n) {
    uint64_t acc = XXPRIME_5;
    for (int64_t i = 0; i < n; i++) {
        acc += (uint64_t)items[i] * XXPRIME_2;
        acc = (acc << 31) | (acc >> 33);
        acc *= XXPRIME_1;
    }
    acc += (uint64_t)n ^ (XXPRIME_5 ^ 3527539UL);
    if (acc == (uint64_t)-1) return 1546275796;
    return (int64_t)acc;
}

static int64_t mask_facts(uint64_t mask, int64_t *out) {
    int64_t n = 0;
    for (int f = 0; f < 64; f++)
        if (mask >> f & 1) out[n++] = f;
    return n;
}

static int64_t mask_hash(uint64_t mask) {
    int64_t facts[64];
    return tuple_hash(facts, mask_facts(mask, facts));
}

/* Open addressing: slots hold id + 1 (0 is empty); the caller says what a match is. */
typedef struct { int64_t *slot; int64_t size, used; } Table;

static uint64_t mix(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return x;
}

/* One of 64 bits for a neuron fact: a left side whose bits are not all among prev's cannot be held. */
static uint64_t neuron_bit(int64_t f) { return (uint64_t)1 << ((uint64_t)f * 0x9E3779B97F4A7C15ULL >> 58); }

typedef struct Mem {
    int64_t max_left, max_active, clock, version;
    /* left semi-contexts */
    int64_t nl, cap_l;
    int64_t *l_off, *l_len, *l_hash; /* facts at pool[l_off .. l_off + l_len) */
    int64_t *l_key;   /* walk order of a fully held left side: (first fact, id) */
    int64_t *l_vmask; /* its value facts as a mask */
    int64_t *l_nsig;  /* its neuron facts as a signature (neuron_bit): a cheap "not all held" test */
    Vec value_only;   /* left semi-contexts without neuron facts */
    Vec l_pool;
    Vec *l_ctx; /* context ids of each left semi-context, in creation order */
    Table l_table;
    /* right semi-contexts */
    int64_t nr, cap_r;
    uint64_t *r_mask;
    int64_t *r_hash;
    Table r_table;
    /* contexts */
    int64_t nc, cap_c;
    int64_t *c_left, *c_right, *c_count, *c_last, *c_hl, *c_hr;
    int64_t *c_rmask, *n_stamp; /* right mask; generation the context was a neuron of prev in */
    uint8_t *c_zero;
    Table p_table; /* (left id, right id) -> context id */
    /* left semi-contexts by fact: value facts, and neurons by context id */
    Vec by_value[64];
    Vec *by_neuron; /* one per context id (cap_c of them) */
    Vec *by_first;  /* per context id: the left semi-contexts whose smallest neuron fact it is */
    /* the same indexes (by_value, by_neuron) restricted to the left semi-contexts that have a
       zero-level context (l_zero): only those give candidates, and they are few */
    int64_t *l_zero;
    Vec zby_value[64];
    Vec *zby_neuron;
    /* the previous step's facts and the left semi-contexts they cross, in first-hit order */
    Vec prev;
    Vec crossed;        /* left ids */
    Vec crossed_shared; /* per crossed: bits over prev's positions */
    int64_t *stamp;     /* per left id: generation it was crossed in, and its index */
    int64_t *stamp_at;
    int64_t generation;
    int64_t crossed_ok; /* crossed is of the current prev */
    Vec full;         /* fully held left semi-contexts, as walk keys */
    /* the pending plan */
    int64_t p_valid, p_version, p_zero_id, p_new_zero, p_has_zero, p_selected;
    uint64_t p_sens;
    double p_raw;
    Vec p_active;
    Vec p_cand_shared, p_cand_hit; /* candidates in walk order */
    Vec p_next;
    /* scratch */
    Table c_table; /* candidate dedup */
    Vec c_keys_shared, c_keys_hit;
} Mem;

static int table_init(Table *t, int64_t size) {
    t->slot = calloc((size_t)size, sizeof(int64_t));
    if (!t->slot) return ERR_MEMORY;
    t->size = size;
    t->used = 0;
    return 0;
}

static void table_clear(Table *t) {
    memset(t->slot, 0, (size_t)t->size * sizeof(int64_t));
    t->used = 0;
}

/* --- lookups -------------------------------------------------------------------------------- */
static int64_t find_left(const Mem *m, const int64_t *facts, int64_t n, int64_t hash) {
    uint64_t i = mix((uint64_t)hash) & (uint64_t)(m->l_table.size - 1);
    for (;; i = (i + 1) & (uint64_t)(m->l_table.size - 1)) {
        int64_t s = m->l_table.slot[i];
        if (!s) return -1;
        int64_t lid = s - 1;
        if (m->l_hash[lid] == hash && m->l_len[lid] == n &&
            (n == 0 || !memcmp(m->l_pool.d + m->l_off[lid], facts, (size_t)n * sizeof(int64_t))))
            return lid;
    }
}

static int64_t find_right(const Mem *m, uint64_t mask) {
    uint64_t i = mix(mask) & (uint64_t)(m->r_table.size - 1);
    for (;; i = (i + 1) & (uint64_t)(m->r_table.size - 1)) {
        int64_t s = m->r_table.slot[i];
        if (!s) return -1;
        if (m->r_mask[s - 1] == mask) return s - 1;
    }
}

static uint64_t pair_key(int64_t lid, int64_t rid) { return (uint64_t)lid << 32 | (uint64_t)rid; }

static int64_t find_pair(const Mem *m, int64_t lid, int64_t rid) {
    uint64_t key = pair_key(lid, rid);
    uint64_t i = mix(key) & (uint64_t)(m->p_table.size - 1);
    for (;; i = (i + 1) & (uint64_t)(m->p_table.size - 1)) {
        int64_t s = m->p_table.slot[i];
        if (!s) return -1;
        if (pair_key(m->c_left[s - 1], m->c_right[s - 1]) == key) return s - 1;
    }
}

/* Grow a table to keep it at most half full, re-inserting with ``key_of``. */
typedef uint64_t (*KeyOf)(const Mem *, int64_t);

static uint64_t left_key(const Mem *m, int64_t id) { return mix((uint64_t)m->l_hash[id]); }
static uint64_t right_key(const Mem *m, int64_t id) { return mix(m->r_mask[id]); }
static uint64_t ctx_key(const Mem *m, int64_t id) { return mix(pair_key(m->c_left[id], m->c_right[id])); }

static int table_insert(const Mem *m, Table *t, int64_t id, KeyOf key_of) {
    if (2 * (t->used + 1) > t->size) {
        Table grown;
        if (table_init(&grown, 2 * t->size)) return ERR_MEMORY;
        for (int64_t j = 0; j < t->size; j++) {
            int64_t s = t->slot[j];
            if (!s) continue;
            uint64_t i = key_of(m, s - 1) & (uint64_t)(grown.size - 1);
            while (grown.slot[i]) i = (i + 1) & (uint64_t)(grown.size - 1);
            grown.slot[i] = s;
        }
        grown.used = t->used;
        free(t->slot);
        *t = grown;
    }
    uint64_t i = key_of(m, id) & (uint64_t)(t->size - 1);
    while (t->slot[i]) i = (i + 1) & (uint64_t)(t->size - 1);
    t->slot[i] = id + 1;
    t->used++;
    return 0;
}

/* --- learning --------------------------------------------------------------------------------- */
static int grow_lefts(Mem *m, int64_t need) {
    if (need <= m->cap_l) return 0;
    int64_t cap = m->cap_l ? 2 * m->cap_l : 16;
    int64_t **cols[] = {&m->l_off, &m->l_len, &m->l_hash, &m->stamp, &m->stamp_at, &m->l_key, &m->l_vmask,
                          &m->l_nsig, &m->l_zero};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) {
        int64_t *d = realloc(*cols[i], (size_t)cap * sizeof(int64_t));
        if (!d) return ERR_MEMORY;
        *cols[i] = d;
    }
    Vec *lc = realloc(m->l_ctx, (size_t)cap * sizeof(Vec));
    if (!lc) return ERR_MEMORY;
    m->l_ctx = lc;
    m->cap_l = cap;
    return 0;
}

static int64_t new_left(Mem *m, const int64_t *facts, int64_t n, int64_t hash) {
    int64_t lid = m->nl;
    if (grow_lefts(m, lid + 1)) return ERR_MEMORY;
    m->l_off[lid] = m->l_pool.n;
    m->l_len[lid] = n;
    m->l_hash[lid] = hash;
    m->stamp[lid] = 0;
    m->stamp_at[lid] = 0;
    uint64_t vmask = 0, nsig = 0;
    for (int64_t i = 0; i < n; i++)
        if (facts[i] < NEURON) vmask |= (uint64_t)1 << facts[i];
        else nsig |= neuron_bit(facts[i]);
    m->l_vmask[lid] = (int64_t)vmask;
    m->l_nsig[lid] = (int64_t)nsig;
    m->l_zero[lid] = 0;
    int64_t first = n ? (facts[0] < NEURON ? facts[0] : 64 + facts[0] - NEURON) : 0;
    m->l_key[lid] = first << 32 | lid;
    if ((n == 0 || facts[n - 1] < NEURON) && vpush(&m->value_only, lid)) return ERR_MEMORY;
    memset(&m->l_ctx[lid], 0, sizeof(Vec));
    for (int64_t i = 0; i < n; i++)
        if (vpush(&m->l_pool, facts[i])) return ERR_MEMORY;
    m->nl++;
    if (table_insert(m, &m->l_table, lid, left_key)) return ERR_MEMORY;
    int first_neuron = 1;
    for (int64_t i = 0; i < n; i++) {
        int64_t f = facts[i];
        Vec *by = f >= NEURON ? &m->by_neuron[f - NEURON] : &m->by_value[f];
        if (vpush(by, lid)) return ERR_MEMORY;
        if (f >= NEURON && first_neuron) {
            first_neuron = 0;
            if (vpush(&m->by_first[f - NEURON], lid)) return ERR_MEMORY;
        }
    }
    return lid;
}

static int64_t new_right(Mem *m, uint64_t mask) {
    int64_t rid = m->nr;
    if (rid + 1 > m->cap_r) {
        int64_t cap = m->cap_r ? 2 * m->cap_r : 16;
        uint64_t *d = realloc(m->r_mask, (size_t)cap * sizeof(uint64_t));
        if (!d) return ERR_MEMORY;
        m->r_mask = d;
        int64_t *h = realloc(m->r_hash, (size_t)cap * sizeof(int64_t));
        if (!h) return ERR_MEMORY;
        m->r_hash = h;
        m->cap_r = cap;
    }
    m->r_mask[rid] = mask;
    m->r_hash[rid] = mask_hash(mask);
    m->nr++;
    if (table_insert(m, &m->r_table, rid, right_key)) return ERR_MEMORY;
    return rid;
}

static int grow_contexts(Mem *m, int64_t need) {
    if (need <= m->cap_c) return 0;
    int64_t cap = m->cap_c ? m->cap_c : 16;
    while (cap < need) cap *= 2;
    int64_t **cols[] = {&m->c_left, &m->c_right, &m->c_count, &m->c_last, &m->c_hl, &m->c_hr,
                        &m->c_rmask, &m->n_stamp};
    for (size_t i = 0; i < sizeof cols / sizeof *cols; i++) {
        int64_t *d = realloc(*cols[i], (size_t)cap * sizeof(int64_t));
        if (!d) return ERR_MEMORY;
        *cols[i] = d;
    }
    uint8_t *z = realloc(m->c_zero, (size_t)cap);
    if (!z) return ERR_MEMORY;
    m->c_zero = z;
    Vec **rows[] = {&m->by_neuron, &m->by_first, &m->zby_neuron}; /* one list per context id */
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        Vec *d = realloc(*rows[i], (size_t)cap * sizeof(Vec));
        if (!d) return ERR_MEMORY;
        memset(d + m->cap_c, 0, (size_t)(cap - m->cap_c) * sizeof(Vec));
        *rows[i] = d;
    }
    memset(m->n_stamp + m->cap_c, 0, (size_t)(cap - m->cap_c) * sizeof(int64_t));
    m->cap_c = cap;
    return 0;
}

/* Insert ``x`` into ``v``, kept in ascending order (new ids usually go last). */
static int sorted_insert(Vec *v, int64_t x) {
    if (v->n == 0 || v->d[v->n - 1] < x) return vpush(v, x);
    int64_t lo = 0, hi = v->n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (v->d[mid] < x) lo = mid + 1;
        else hi = mid;
    }
    if (vpush(v, 0)) return ERR_MEMORY;
    memmove(v->d + lo + 1, v->d + lo, (size_t)(v->n - 1 - lo) * sizeof(int64_t));
    v->d[lo] = x;
    return 0;
}

/* Left semi-context ``lid`` has a zero-level context now: list it in the zby_* indexes, in id order
as by_value and by_neuron are, so a walk over them meets zero holders in the full walk's order. */
static int mark_zero(Mem *m, int64_t lid) {
    if (m->l_zero[lid]) return 0;
    m->l_zero[lid] = 1;
    m->crossed_ok = 0;
    const int64_t *facts = m->l_pool.d + m->l_off[lid];
    for (int64_t i = 0; i < m->l_len[lid]; i++) {
        int64_t f = facts[i];
        if (sorted_insert(f >= NEURON ? &m->zby_neuron[f - NEURON] : &m->zby_value[f], lid)) return ERR_MEMORY;
    }
    return 0;
}

/* The next context id for semi-contexts ``lid`` and ``rid``, with its columns and indexes. */
static int64_t append_context(Mem *m, int64_t lid, int64_t rid, int64_t count, int zero, int64_t last) {
    int64_t cid = m->nc;
    if (grow_contexts(m, cid + 1)) return ERR_MEMORY;
    m->c_left[cid] = lid;
    m->c_right[cid] = rid;
    m->c_count[cid] = count;
    m->c_last[cid] = last;
    m->c_hl[cid] = m->l_hash[lid];
    m->c_hr[cid] = m->r_hash[rid];
    m->c_rmask[cid] = (int64_t)m->r_mask[rid];
    m->c_zero[cid] = (uint8_t)(zero != 0);
    m->nc++;
    if (table_insert(m, &m->p_table, cid, ctx_key) || vpush(&m->l_ctx[lid], cid)) return ERR_MEMORY;
    if (zero && mark_zero(m, lid)) return ERR_MEMORY;
    return cid;
}

/* A context for (left facts, right mask); the semi-contexts are made when new. */
static int64_t add_context(Mem *m, const int64_t *left, int64_t n, uint64_t right, int zero, int64_t count,
                           int64_t last) {
    int64_t hash = tuple_hash(left, n);
    int64_t lid = find_left(m, left, n, hash);
    if (lid < 0 && (lid = new_left(m, left, n, hash)) < 0) return lid;
    int64_t rid = find_right(m, right);
    if (rid < 0 && (rid = new_right(m, right)) < 0) return rid;
    return append_context(m, lid, rid, count, zero, last);
}

/* The left semi-contexts with a zero-level context crossed by prev, in first-hit order, with the
facts they share: the oracle's walk, less the left sides that cannot give a candidate. */
static int cross(Mem *m) {
    if (m->crossed_ok) return 0;
    m->crossed_ok = 1;
    m->crossed.n = 0;
    m->crossed_shared.n = 0;
    m->generation++;
    for (int64_t i = 0; i < m->prev.n; i++) {
        int64_t f = m->prev.d[i];
        Vec *by = f >= NEURON ? (f - NEURON < m->cap_c ? &m->zby_neuron[f - NEURON] : NULL) : &m->zby_value[f];
        if (!by) continue;
        for (int64_t j = 0; j < by->n; j++) {
            int64_t lid = by->d[j];
            if (m->stamp[lid] != m->generation) {
                m->stamp[lid] = m->generation;
                m->stamp_at[lid] = m->crossed.n;
                if (vpush(&m->crossed, lid) || vpush(&m->crossed_shared, 0)) return ERR_MEMORY;
            }
            m->crossed_shared.d[m->stamp_at[lid]] |= (int64_t)((uint64_t)1 << i);
        }
    }
    return 0;
}

/* The facts of prev at the positions in ``bits``, in prev's order. */
static int64_t shared_facts(const Mem *m, uint64_t bits, int64_t *out) {
    int64_t n = 0;
    for (int64_t i = 0; i < m->prev.n; i++)
        if (bits >> i & 1) out[n++] = m->prev.d[i];
    return n;
}

static int64_t find_candidate(const Mem *m, uint64_t shared, uint64_t hit) {
    int64_t facts[64];
    int64_t n = shared_facts(m, shared, facts);
    int64_t lid = find_left(m, facts, n, tuple_hash(facts, n));
    if (lid < 0) return -1;
    int64_t rid = find_right(m, hit);
    if (rid < 0) return -1;
    return find_pair(m, lid, rid);
}

/* --- one step --------------------------------------------------------------------------------- */
/* Rank of active[i] against active[j]: use count, then the hashes, then position (sorted() is stable). */
static int rank_less(const Mem *m, const int64_t *active, int64_t i, int64_t j) {
    int64_t ci = active[i], cj = active[j];
    if (m->c_count[ci] != m->c_count[cj]) return m->c_count[ci] < m->c_count[cj];
    if (m->c_hl[ci] != m->c_hl[cj]) return m->c_hl[ci] < m->c_hl[cj];
    if (m->c_hr[ci] != m->c_hr[cj]) return m->c_hr[ci] < m->c_hr[cj];
    return i < j;
}

static void sift_down(const Mem *m, const int64_t *active, int64_t *heap, int64_t k, int64_t at) {
    for (;;) {
        int64_t low = at, l = 2 * at + 1, r = l + 1;
        if (l < k && rank_less(m, active, heap[l], heap[low])) low = l;
        if (r < k && rank_less(m, active, heap[r], heap[low])) low = r;
        if (low == at) return;
        int64_t t = heap[at];
        heap[at] = heap[low];
        heap[low] = t;
        at = low;
    }
}

/* The positions of the k top-ranked of ``na`` active contexts (the last k of a stable sort). */
static void top_k(const Mem *m, const int64_t *active, int64_t na, int64_t *heap, int64_t k) {
    for (int64_t i = 0; i < k; i++) heap[i] = i;
    for (int64_t i = k / 2 - 1; i >= 0; i--) sift_down(m, active, heap, k, i);
    for (int64_t i = k; i < na; i++) {
        if (rank_less(m, active, heap[0], i)) {
            heap[0] = i;
            sift_down(m, active, heap, k, 0);
        }
    }
}

static void insertion_sort(int64_t *d, int64_t n) {
    for (int64_t i = 1; i < n; i++) {
        int64_t x = d[i], j = i;
        for (; j > 0 && d[j - 1] > x; j--) d[j] = d[j - 1];
        d[j] = x;
    }
}

/* Sort n ids ascending, in place.

Why not qsort: a step sorts a few hundred keys, and qsort's call through a comparison function per
pair was a large share of a step (bench/README.md); an inlined quicksort (median of three, the smaller side
first so the stack stays O(log n), insertion sort under 24 keys) orders ints the same way. */
static void sort_ids(int64_t *d, int64_t n) {
    while (n > 24) {
        int64_t a = d[0], b = d[n / 2], c = d[n - 1];
        int64_t pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int64_t i = 0, j = n - 1;
        for (;;) {
            while (d[i] < pivot) i++;
            while (d[j] > pivot) j--;
            if (i >= j) break;
            int64_t t = d[i];
            d[i++] = d[j];
            d[j--] = t;
        }
        /* d[0..j] <= pivot <= d[j+1..n-1]; both sides non-empty */
        if (j + 1 < n - j - 1) {
            sort_ids(d, j + 1);
            d += j + 1;
            n -= j + 1;
        } else {
            sort_ids(d + j + 1, n - j - 1);
            n = j + 1;
        }
    }
    insertion_sort(d, n);
}

static int dedup_insert(Mem *m, uint64_t shared, uint64_t hit) {
    /* 1 when new, 0 when seen; keys kept in c_keys_* by slot id */
    Table *t = &m->c_table;
    uint64_t h = mix(shared * 0x9E3779B97F4A7C15ULL ^ hit) & (uint64_t)(t->size - 1);
    for (;; h = (h + 1) & (uint64_t)(t->size - 1)) {
        int64_t s = t->slot[h];
        if (!s) break;
        if ((uint64_t)m->c_keys_shared.d[s - 1] == shared && (uint64_t)m->c_keys_hit.d[s - 1] == hit) return 0;
    }
    if (vpush(&m->c_keys_shared, (int64_t)shared) || vpush(&m->c_keys_hit, (int64_t)hit)) return ERR_MEMORY;
    t->slot[h] = m->c_keys_shared.n;
    t->used++;
    return 1;
}

/* The left semi-contexts whose facts prev all holds, as walk keys in the oracle's walk order.

Why not the walk: a value fact is in most left semi-contexts, so crossing prev visits nearly all of
them; a fully held one either has no neuron (few: value subsets) or names a neuron of prev (short
lists): each is listed once, under its smallest neuron, and only prev's neurons' lists are read.
The walk meets a fully held one at its smallest fact, in id order: (first fact, id). */
static int full_lefts(Mem *m) {
    m->full.n = 0;
    m->generation++;
    uint64_t pmask = 0, psig = 0;
    for (int64_t i = 0; i < m->prev.n; i++) {
        int64_t f = m->prev.d[i];
        if (f < NEURON) {
            pmask |= (uint64_t)1 << f;
        } else if (f - NEURON < m->cap_c) {
            m->n_stamp[f - NEURON] = m->generation;
            psig |= neuron_bit(f);
        }
    }
    if (!m->prev.n) return 0;
    for (int64_t k = 0; k < m->value_only.n; k++) {
        int64_t lid = m->value_only.d[k];
        if (m->l_len[lid] && ((uint64_t)m->l_vmask[lid] & ~pmask) == 0 && vpush(&m->full, m->l_key[lid]))
            return ERR_MEMORY;
    }
    for (int64_t i = 0; i < m->prev.n; i++) {
        int64_t f = m->prev.d[i];
        if (f < NEURON || f - NEURON >= m->cap_c) continue;
        const Vec *by = &m->by_first[f - NEURON];
        for (int64_t j = 0; j < by->n; j++) {
            int64_t lid = by->d[j];
            if (((uint64_t)m->l_vmask[lid] & ~pmask) != 0 || ((uint64_t)m->l_nsig[lid] & ~psig) != 0) continue;
            const int64_t *facts = m->l_pool.d + m->l_off[lid];
            int held = 1;
            for (int64_t q = 0; q < m->l_len[lid] && held; q++)
                if (facts[q] >= NEURON && (facts[q] - NEURON >= m->cap_c || m->n_stamp[facts[q] - NEURON] != m->generation))
                    held = 0;
            if (held && vpush(&m->full, m->l_key[lid])) return ERR_MEMORY;
        }
    }
    sort_ids(m->full.d, m->full.n);
    return 0;
}

int64_t cm_plan(Mem *m, uint64_t sens, double *raw) {
    int64_t nsens = __builtin_popcountll(sens);
    if (nsens + m->max_active > 64) return ERR_VALUE;
    m->p_valid = 0;
    m->p_sens = sens;
    m->p_has_zero = m->prev.n > 0 && nsens > 0;
    m->p_zero_id = -1;
    if (m->p_has_zero) {
        int64_t lid = find_left(m, m->prev.d, m->prev.n, tuple_hash(m->prev.d, m->prev.n));
        int64_t rid = lid >= 0 ? find_right(m, sens) : -1;
        if (rid >= 0) m->p_zero_id = find_pair(m, lid, rid);
    }
    int new_zero = m->p_has_zero && m->p_zero_id < 0;
    m->p_new_zero = new_zero;
    m->p_active.n = 0;
    m->p_cand_shared.n = 0;
    m->p_cand_hit.n = 0;
    int64_t selected = 0;
    /* the active contexts: those of the fully held left sides, found without the walk */
    int r = full_lefts(m);
    if (r) return r;
    for (int64_t k = 0; k < m->full.n; k++) {
        const Vec *ctxs = &m->l_ctx[m->full.d[k] & 0xFFFFFFFF];
        selected += ctxs->n;
        for (int64_t j = 0; j < ctxs->n; j++) {
            int64_t cid = ctxs->d[j];
            uint64_t rmask = (uint64_t)m->c_rmask[cid];
            if (rmask && (rmask & ~sens) == 0 && vpush(&m->p_active, cid)) return ERR_MEMORY;
        }
    }
    if (new_zero) {
        /* candidates: zero-level contexts partly met, in walk order */
        if (cross(m)) return ERR_MEMORY;
        for (int64_t k = 0; k < m->crossed.n; k++) {
            int64_t lid = m->crossed.d[k];
            uint64_t shared = (uint64_t)m->crossed_shared.d[k];
            int64_t ns = __builtin_popcountll(shared);
            if (ns > m->max_left) continue;
            int full = ns == m->l_len[lid];
            const Vec *ctxs = &m->l_ctx[lid];
            for (int64_t j = 0; j < ctxs->n; j++) {
                int64_t cid = ctxs->d[j];
                if (!m->c_zero[cid]) continue;
                uint64_t rmask = (uint64_t)m->c_rmask[cid];
                uint64_t hit = rmask & sens;
                if (!hit || (full && hit == rmask)) continue; /* unmet, or active (above) */
                if (vpush(&m->p_cand_shared, (int64_t)shared) || vpush(&m->p_cand_hit, (int64_t)hit))
                    return ERR_MEMORY;
            }
        }
    }
    m->p_selected = selected;
    /* unique candidates, the new ones among them, and the zero-level context */
    double new_share = 0.0;
    if (new_zero) {
        int64_t nc = m->p_cand_shared.n;
        int64_t size = 16;
        while (size < 4 * (nc + 1)) size *= 2;
        if (m->c_table.size < size) {
            free(m->c_table.slot);
            if (table_init(&m->c_table, size)) return ERR_MEMORY;
        } else {
            table_clear(&m->c_table);
        }
        m->c_keys_shared.n = 0;
        m->c_keys_hit.n = 0;
        uint64_t zero_shared = m->prev.n == 64 ? ~(uint64_t)0 : (((uint64_t)1 << m->prev.n) - 1);
        int64_t unique = 0, fresh = 1, zero_seen = 0;
        for (int64_t i = 0; i < nc; i++) {
            uint64_t shared = (uint64_t)m->p_cand_shared.d[i], hit = (uint64_t)m->p_cand_hit.d[i];
            int r = dedup_insert(m, shared, hit);
            if (r < 0) return r;
            if (!r) continue;
            unique++;
            if (shared == zero_shared && hit == sens) {
                zero_seen = 1;
                continue;
            }
            if (find_candidate(m, shared, hit) < 0) fresh++;
        }
        new_share = (double)fresh / (double)(unique + (zero_seen ? 0 : 1));
    }
    double hit_share = selected ? (double)m->p_active.n / (double)selected : 0.0;
    m->p_raw = (1.0 - hit_share + new_share) / 2.0;
    /* the next step's facts: the value facts and the top-ranked active contexts */
    m->p_next.n = 0;
    int64_t facts[64];
    int64_t nf = mask_facts(sens, facts);
    for (int64_t i = 0; i < nf; i++)
        if (vpush(&m->p_next, facts[i])) return ERR_MEMORY;
    int64_t na = m->p_active.n, k = m->max_active;
    if (k && na) {
        int64_t start = m->p_next.n;
        if (na <= k) {
            for (int64_t i = 0; i < na; i++)
                if (vpush(&m->p_next, NEURON + m->p_active.d[i])) return ERR_MEMORY;
        } else {
            int64_t heap[64];
            top_k(m, m->p_active.d, na, heap, k);
            for (int64_t i = 0; i < k; i++)
                if (vpush(&m->p_next, NEURON + m->p_active.d[heap[i]])) return ERR_MEMORY;
        }
        sort_ids(m->p_next.d + start, m->p_next.n - start);
    }
    m->p_valid = 1;
    m->p_version = m->version;
    *raw = m->p_raw;
    return m->p_selected;
}

/* Learn the step for ``sens``: the pending plan when it was made for it on this state. */
int64_t cm_commit(Mem *m, uint64_t sens) {
    if (!(m->p_valid && m->p_version == m->version && m->p_sens == sens)) {
        double raw;
        int64_t r = cm_plan(m, sens, &raw);
        if (r < 0) return r;
    }
    m->p_valid = 0;
    m->version++;
    m->clock++;
    if (m->p_has_zero) {
        if (m->p_zero_id < 0) {
            if (add_context(m, m->prev.d, m->prev.n, sens, 1, 0, m->clock) < 0) return ERR_MEMORY;
        } else {
            m->c_zero[m->p_zero_id] = 1;
            if (mark_zero(m, m->c_left[m->p_zero_id])) return ERR_MEMORY;
        }
    }
    for (int64_t i = 0; i < m->p_active.n; i++) {
        int64_t cid = m->p_active.d[i];
        m->c_count[cid]++;
        m->c_last[cid] = m->clock;
    }
    int64_t facts[64];
    for (int64_t i = 0; i < m->p_cand_shared.n; i++) {
        uint64_t shared = (uint64_t)m->p_cand_shared.d[i], hit = (uint64_t)m->p_cand_hit.d[i];
        if (find_candidate(m, shared, hit) >= 0) continue;
        int64_t n = shared_facts(m, shared, facts);
        if (add_context(m, facts, n, hit, 0, 0, m->clock) < 0) return ERR_MEMORY;
    }
    m->prev.n = 0;
    for (int64_t i = 0; i < m->p_next.n; i++)
        if (vpush(&m->prev, m->p_next.d[i])) return ERR_MEMORY;
    m->crossed_ok = 0;
    return m->nc;
}

/* Plan and learn one step in one call (score_learn_one's path); the raw score goes to ``raw``. */
int64_t cm_step(Mem *m, uint64_t sens, double *raw) {
    int64_t r = cm_plan(m, sens, raw);
    return r < 0 ? r : cm_commit(m, sens);
}

/* --- life cycle, restore and export ------------------------------------------------------------ */
static void release(Mem *m) {
    free(m->l_off); free(m->l_len); free(m->l_hash); free(m->stamp); free(m->stamp_at);
    free(m->l_pool.d);
    for (int64_t i = 0; i < m->nl; i++) free(m->l_ctx[i].d);
    free(m->l_ctx);
    free(m->l_table.slot);
    free(m->r_mask); free(m->r_hash); free(m->r_table.slot);
    free(m->c_left); free(m->c_right); free(m->c_count); free(m->c_last); free(m->c_hl); free(m->c_hr);
    free(m->c_rmask); free(m->n_stamp); free(m->l_key); free(m->l_vmask); free(m->l_nsig);
    free(m->value_only.d); free(m->full.d);
    free(m->c_zero); free(m->p_table.slot);
    for (int i = 0; i < 64; i++) {
        free(m->by_value[i].d);
        free(m->zby_value[i].d);
    }
    for (int64_t i = 0; i < m->cap_c; i++) {
        free(m->by_neuron[i].d);
        free(m->by_first[i].d);
        free(m->zby_neuron[i].d);
    }
    free(m->by_neuron); free(m->by_first); free(m->zby_neuron);
    free(m->l_zero);
    free(m->prev.d); free(m->crossed.d); free(m->crossed_shared.d);
    free(m->p_active.d); free(m->p_cand_shared.d); free(m->p_cand_hit.d); free(m->p_next.d);
    free(m->c_table.slot); free(m->c_keys_shared.d); free(m->c_keys_hit.d);
}

void cm_free(Mem *m) {
    if (!m) return;
    release(m);
    free(m);
}

static int init(Mem *m, int64_t max_left, int64_t max_active) {
    memset(m, 0, sizeof *m);
    m->max_left = max_left;
    m->max_active = max_active;
    /* small to start: a young memory holds a handful of contexts, and there is one per series */
    if (table_init(&m->l_table, 8) || table_init(&m->r_table, 8) || table_init(&m->p_table, 8) ||
        table_init(&m->c_table, 8))
        return ERR_MEMORY;
    return 0;
}

Mem *cm_new(int64_t max_left, int64_t max_active) {
    if (max_active < 0 || max_active > 63 || max_left < 0) return NULL;
    Mem *m = malloc(sizeof *m);
    if (!m) return NULL;
    if (init(m, max_left, max_active)) {
        cm_free(m);
        return NULL;
    }
    return m;
}

int64_t cm_clock(const Mem *m) { return m->clock; }
int64_t cm_hash(const int64_t *items, int64_t n) { return tuple_hash(items, n); }

static int valid_facts(const Mem *m, const int64_t *facts, int64_t n, int64_t neuron_limit) {
    for (int64_t i = 0; i < n; i++) {
        int64_t f = facts[i];
        if (i && facts[i - 1] >= f) return 0; /* sorted and unique, as every step stores them */
        if (f < 0 || (f >= 64 && f < NEURON) || (f >= NEURON && f - NEURON >= neuron_limit)) return 0;
    }
    (void)m;
    return 1;
}

/* Restore, in order: left semi-contexts, right ones, contexts, then clock and prev. */
int64_t cm_restore_left(Mem *m, const int64_t *facts, int64_t n, int64_t neuron_limit) {
    if (!valid_facts(m, facts, n, neuron_limit)) return ERR_VALUE;
    if (grow_contexts(m, neuron_limit)) return ERR_MEMORY; /* by_neuron rows for the ids named */
    int64_t hash = tuple_hash(facts, n);
    if (find_left(m, facts, n, hash) >= 0) return ERR_VALUE;
    return new_left(m, facts, n, hash);
}

int64_t cm_restore_right(Mem *m, uint64_t mask) {
    if (find_right(m, mask) >= 0) return ERR_VALUE;
    return new_right(m, mask);
}

int64_t cm_restore_context(Mem *m, int64_t lid, int64_t rid, int64_t count, int64_t zero, int64_t last) {
    if (lid < 0 || lid >= m->nl || rid < 0 || rid >= m->nr || find_pair(m, lid, rid) >= 0) return ERR_VALUE;
    return append_context(m, lid, rid, count, (int)(zero != 0), last);
}

int64_t cm_restore_state(Mem *m, int64_t clock, const int64_t *prev, int64_t n) {
    if (n > 64 || !valid_facts(m, prev, n, m->nc)) return ERR_VALUE;
    m->clock = clock;
    m->prev.n = 0;
    for (int64_t i = 0; i < n; i++)
        if (vpush(&m->prev, prev[i])) return ERR_MEMORY;
    m->p_valid = 0;
    m->version++;
    m->crossed_ok = 0;
    return 0;
}

/* Sizes for export: left count, left pool size, right count, contexts, prev length. */
void cm_sizes(const Mem *m, int64_t *out) {
    out[0] = m->nl;
    out[1] = m->l_pool.n;
    out[2] = m->nr;
    out[3] = m->nc;
    out[4] = m->prev.n;
}

void cm_export(const Mem *m, int64_t *l_len, int64_t *l_pool, uint64_t *r_mask, int64_t *c_left,
               int64_t *c_right, int64_t *c_count, int64_t *c_zero, int64_t *c_last, int64_t *prev) {
    for (int64_t i = 0; i < m->nl; i++) {
        l_len[i] = m->l_len[i];
        copy_values(l_pool + m->l_off[i], m->l_pool.d + m->l_off[i], m->l_len[i], sizeof(int64_t));
    }
    copy_values(r_mask, m->r_mask, m->nr, sizeof(uint64_t));
    for (int64_t c = 0; c < m->nc; c++) {
        c_left[c] = m->c_left[c];
        c_right[c] = m->c_right[c];
        c_count[c] = m->c_count[c];
        c_zero[c] = m->c_zero[c];
        c_last[c] = m->c_last[c];
    }
    copy_values(prev, m->prev.d, m->prev.n, sizeof(int64_t));
}

/* --- the snapshot body (cad_state.py, version 2), written here so a pickle is one call ------------ */
enum { COL_LEFT_LEN, COL_LEFT_FACTS, COL_RIGHT_MASK, COL_CTX_LEFT, COL_CTX_RIGHT, COL_CTX_COUNT,
       COL_CTX_ZERO, COL_CTX_AGE, COL_PREV, N_COLUMNS };

static int64_t column_length(const Mem *m, int col) {
    switch (col) {
    case COL_LEFT_LEN: return m->nl;
    case COL_LEFT_FACTS: return m->l_pool.n;
    case COL_RIGHT_MASK: return m->nr;
    case COL_PREV: return m->prev.n;
    default: return m->nc;
    }
}

static uint64_t encoded_fact(int64_t f) { return f >= NEURON ? (uint64_t)(f - NEURON + 64) : (uint64_t)f; }

static uint64_t column_value(const Mem *m, int col, int64_t i) {
    switch (col) {
    case COL_LEFT_LEN: return (uint64_t)m->l_len[i];
    case COL_LEFT_FACTS: return encoded_fact(m->l_pool.d[i]);
    case COL_RIGHT_MASK: return m->r_mask[i];
    case COL_CTX_LEFT: return (uint64_t)m->c_left[i];
    case COL_CTX_RIGHT: return (uint64_t)m->c_right[i];
    case COL_CTX_COUNT: return (uint64_t)m->c_count[i];
    case COL_CTX_ZERO: return m->c_zero[i];
    case COL_CTX_AGE: return (uint64_t)(m->clock - m->c_last[i]);
    default: return encoded_fact(m->prev.d[i]);
    }
}

static uint8_t *put_le(uint8_t *out, uint64_t v, int bytes) {
    for (int b = 0; b < bytes; b++) out[b] = (uint8_t)(v >> (8 * b));
    return out + bytes;
}

/* An upper bound of the body's size: every column at 8 bytes a value. */
int64_t cm_pack_bound(const Mem *m) {
    int64_t total = 8 * (5 + 2 * N_COLUMNS);
    for (int c = 0; c < N_COLUMNS; c++) total += 8 * column_length(m, c);
    return total;
}

/* The body: header (int64 LE), then each column in its narrowest width; its size, or an error. */
int64_t cm_pack(const Mem *m, uint8_t *out, int64_t cap) {
    if (cap < cm_pack_bound(m)) return ERR_VALUE;
    int widths[N_COLUMNS];
    uint8_t *p = out;
    int64_t head[5] = {2, m->max_left, m->max_active, m->clock, m->nc};
    for (int i = 0; i < 5; i++) p = put_le(p, (uint64_t)head[i], 8);
    for (int c = 0; c < N_COLUMNS; c++) {
        int64_t n = column_length(m, c);
        uint64_t top = 0;
        for (int64_t i = 0; i < n; i++) {
            if (c == COL_CTX_AGE && m->c_last[i] > m->clock) return ERR_VALUE;
            uint64_t v = column_value(m, c, i);
            if (v > top) top = v;
        }
        widths[c] = top < (1u << 8) ? 0 : top < (1u << 16) ? 1 : top < ((uint64_t)1 << 32) ? 2 : 3;
        p = put_le(p, (uint64_t)n, 8);
        p = put_le(p, (uint64_t)widths[c], 8);
    }
    for (int c = 0; c < N_COLUMNS; c++) {
        int64_t n = column_length(m, c);
        int bytes = 1 << widths[c];
        for (int64_t i = 0; i < n; i++) p = put_le(p, column_value(m, c, i), bytes);
    }
    return (int64_t)(p - out);
}

static uint64_t get_le(const uint8_t *in, int bytes) {
    uint64_t v = 0;
    for (int b = 0; b < bytes; b++) v |= (uint64_t)in[b] << (8 * b);
    return v;
}

static int64_t decoded_fact(uint64_t v) { return v >= 64 ? (int64_t)(v - 64) + NEURON : (int64_t)v; }

/* A memory from a version 2 body (what cm_pack writes), checked as the restore functions check. */
int64_t cm_unpack(Mem *m, const uint8_t *in, int64_t size) {
    int64_t fixed = 8 * (5 + 2 * N_COLUMNS);
    if (m->nc || m->nl || m->nr || size < fixed) return ERR_VALUE; /* into a fresh memory only */
    int64_t head[5];
    for (int i = 0; i < 5; i++) head[i] = (int64_t)get_le(in + 8 * i, 8);
    if (head[0] != 2 || head[1] != m->max_left || head[2] != m->max_active || head[4] < 0) return ERR_VALUE;
    const uint8_t *col[N_COLUMNS];
    int64_t len[N_COLUMNS];
    int bytes[N_COLUMNS];
    int64_t pos = fixed;
    for (int c = 0; c < N_COLUMNS; c++) {
        len[c] = (int64_t)get_le(in + 8 * (5 + 2 * c), 8);
        uint64_t width = get_le(in + 8 * (6 + 2 * c), 8);
        if (len[c] < 0 || len[c] > size || width > 3) return ERR_VALUE;
        bytes[c] = 1 << width;
        col[c] = in + pos;
        pos += len[c] * bytes[c];
        if (pos > size) return ERR_VALUE;
    }
    int64_t n = head[4], clock = head[3];
    if (pos != size || len[COL_CTX_LEFT] != n || len[COL_CTX_RIGHT] != n || len[COL_CTX_COUNT] != n ||
        len[COL_CTX_ZERO] != n || len[COL_CTX_AGE] != n || len[COL_PREV] > 64)
        return ERR_VALUE;
#define AT(c, i) get_le(col[c] + (i) * bytes[c], bytes[c])
    int64_t facts[256], total = 0;
    for (int64_t l = 0; l < len[COL_LEFT_LEN]; l++) {
        int64_t k = (int64_t)AT(COL_LEFT_LEN, l);
        if (k > 256 || total + k > len[COL_LEFT_FACTS]) return ERR_VALUE;
        for (int64_t i = 0; i < k; i++) facts[i] = decoded_fact(AT(COL_LEFT_FACTS, total + i));
        total += k;
        int64_t r = cm_restore_left(m, facts, k, n);
        if (r < 0) return r;
    }
    if (total != len[COL_LEFT_FACTS]) return ERR_VALUE;
    for (int64_t i = 0; i < len[COL_RIGHT_MASK]; i++) {
        int64_t r = cm_restore_right(m, AT(COL_RIGHT_MASK, i));
        if (r < 0) return r;
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t r = cm_restore_context(m, (int64_t)AT(COL_CTX_LEFT, i), (int64_t)AT(COL_CTX_RIGHT, i),
                                       (int64_t)AT(COL_CTX_COUNT, i), (int64_t)AT(COL_CTX_ZERO, i),
                                       clock - (int64_t)AT(COL_CTX_AGE, i));
        if (r < 0) return r;
    }
    for (int64_t i = 0; i < len[COL_PREV]; i++) facts[i] = decoded_fact(AT(COL_PREV, i));
#undef AT
    int64_t r = cm_restore_state(m, clock, facts, len[COL_PREV]);
    return r < 0 ? r : m->nc;
}

/* The pending plan's details, for the oracle test and explain: counts, then the lists. */
int64_t cm_plan_sizes(const Mem *m, int64_t *out) {
    if (!m->p_valid) return ERR_VALUE;
    out[0] = m->p_active.n;
    out[1] = m->p_next.n;
    out[2] = m->p_cand_shared.n;
    out[3] = m->p_zero_id;
    out[4] = m->p_has_zero;
    out[5] = m->p_selected;
    return 0;
}

void cm_plan_lists(const Mem *m, int64_t *active, int64_t *next, int64_t *cand_shared, int64_t *cand_hit) {
    copy_values(active, m->p_active.d, m->p_active.n, sizeof(int64_t));
    copy_values(next, m->p_next.d, m->p_next.n, sizeof(int64_t));
    copy_values(cand_shared, m->p_cand_shared.d, m->p_cand_shared.n, sizeof(int64_t));
    copy_values(cand_hit, m->p_cand_hit.d, m->p_cand_hit.n, sizeof(int64_t));
}

/* --- forgetting ------------------------------------------------------------------------------- */
typedef struct { int64_t last, count, id; } Age;

/* Most recent first, then most used, then by id (sorted(..., reverse=True) keeps ties in order). */
static int age_cmp(const void *a, const void *b) {
    const Age *x = a, *y = b;
    if (x->last != y->last) return x->last > y->last ? -1 : 1;
    if (x->count != y->count) return x->count > y->count ? -1 : 1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

/* Keep the ``keep`` most recently active contexts (ties: most used), renumbered as the oracle does. */
int64_t cm_prune(Mem *m, int64_t keep) {
    int64_t n = m->nc;
    if (keep < 0) return ERR_VALUE;
    Age *ages = malloc((size_t)(n ? n : 1) * sizeof(Age));
    int64_t *order = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    int64_t *remap = malloc((size_t)(n ? n : 1) * sizeof(int64_t));
    Mem *fresh = cm_new(m->max_left, m->max_active);
    if (!ages || !order || !remap || !fresh) {
        free(ages); free(order); free(remap); cm_free(fresh);
        return ERR_MEMORY;
    }
    for (int64_t i = 0; i < n; i++) {
        ages[i] = (Age){m->c_last[i], m->c_count[i], i};
        remap[i] = -1;
    }
    qsort(ages, (size_t)n, sizeof(Age), age_cmp);
    if (keep > n) keep = n;
    for (int64_t i = 0; i < keep; i++) order[i] = ages[i].id;
    free(ages);
    sort_ids(order, keep);
    fresh->clock = m->clock;
    int64_t facts[256];
    int rc = 0;
    for (int64_t k = 0; k < keep && !rc; k++) {
        int64_t cid = order[k], lid = m->c_left[cid], len = m->l_len[lid];
        const int64_t *old = m->l_pool.d + m->l_off[lid];
        int gone = 0;
        int64_t *buf = facts, *heap = NULL;
        if (len > 256 && !(buf = heap = malloc((size_t)len * sizeof(int64_t)))) {
            rc = ERR_MEMORY;
            break;
        }
        for (int64_t i = 0; i < len; i++) {
            int64_t f = old[i];
            if (f >= NEURON) {
                int64_t to = remap[f - NEURON];
                if (to < 0) { gone = 1; break; }
                f = NEURON + to;
            }
            buf[i] = f;
        }
        if (!gone) {
            sort_ids(buf, len);
            if (grow_contexts(fresh, fresh->nc + 1)) rc = ERR_MEMORY;
            int64_t to = rc ? -1
                            : add_context(fresh, buf, len, m->r_mask[m->c_right[cid]], m->c_zero[cid],
                                          m->c_count[cid], m->c_last[cid]);
            if (to < 0) {
                rc = ERR_MEMORY;
            } else {
                remap[cid] = to;
            }
        }
        free(heap);
    }
    if (!rc) {
        for (int64_t i = 0; i < m->prev.n; i++) {
            int64_t f = m->prev.d[i];
            if (f >= NEURON) {
                if (f - NEURON >= n || remap[f - NEURON] < 0) continue;
                f = NEURON + remap[f - NEURON];
            }
            if (vpush(&fresh->prev, f)) { rc = ERR_MEMORY; break; }
        }
    }
    free(order);
    free(remap);
    if (rc) {
        cm_free(fresh);
        return rc;
    }
    sort_ids(fresh->prev.d, fresh->prev.n);
    fresh->version = m->version + 1;
    release(m);
    *m = *fresh;
    free(fresh);
    m->crossed_ok = 0;
    return m->nc;
}
