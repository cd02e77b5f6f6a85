package otlpwire

// Concatenation needs no function: an Export*ServiceRequest has a single
// repeated top-level field, so the bytes of two encoded requests appended
// one after the other are one valid request holding both sets of resources,
// in order. Batchers build batches with append and nothing else.

// Split cuts req, which ix indexes, into pieces for a batch limit of
// maxItems items and maxBytes bytes (either <= 0 means no limit). It appends
// the pieces to dst and returns it.
//
// Pieces are sub-slices of req, not copies, and each is capped at its own
// length, so appending to one cannot overwrite the next. Each piece is a run
// of whole top-level resource entries, filled greedily in order, and is a
// valid request by itself; the pieces concatenated are req again, unknown
// top-level fields included (each travels with the resource entry before it,
// or with the first piece). A single resource entry bigger than the limits
// becomes a piece of its own that exceeds them: splitting inside a resource
// would mean re-encoding its length prefixes, which is left for later.
//
// An empty req yields no pieces; a req without resource entries, one piece.
func Split(ix *Index, req []byte, maxItems, maxBytes int, dst [][]byte) [][]byte {
	if len(req) == 0 {
		return dst
	}
	rs := ix.Resources
	start, items := 0, 0
	for k := range rs {
		next := len(req)
		if k+1 < len(rs) {
			next = int(rs[k+1].Off)
		}
		n := int(rs[k].ItemEnd - rs[k].ItemStart)
		// k > 0: the current piece already holds resource k-1, so cutting
		// before k never leaves an empty piece.
		if k > 0 && (maxItems > 0 && items+n > maxItems || maxBytes > 0 && next-start > maxBytes) {
			cut := int(rs[k].Off)
			dst = append(dst, req[start:cut:cut])
			start, items = cut, 0
		}
		items += n
	}
	return append(dst, req[start:len(req):len(req)])
}
