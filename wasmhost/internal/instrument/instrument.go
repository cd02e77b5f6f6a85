// Package instrument rewrites a WebAssembly module at load so that its code
// calls the host at bounded intervals: a fuel counter, decremented at every
// function entry and loop header and charged for bulk memory and table
// operations, calls an imported host function whenever it runs out. That
// host function is the guest's only way to be stopped (at its deadline) and
// its periodic exit to Go is what lets a garbage collection stop the world
// while a guest loops. wasmhost/RATIONALE.md explains why this replaces
// wazero's WithCloseOnContextDone.
//
// The rewriter decodes every instruction of the MVP, sign extension,
// non-trapping float-to-int conversion, bulk memory, reference types and
// tail calls, and refuses anything else (SIMD, threads, exception handling,
// GC, multi-memory, memory64) with an error naming the function and byte
// offset: it never guesses.
package instrument

import (
	"cmp"
	"errors"
	"fmt"
)

// Options says what to add.
type Options struct {
	// Module and Name are the import the counter calls when it runs out,
	// with type () -> i32: it returns the fresh fuel (> 0), or does not
	// return (the host aborts the call). An input that already imports
	// Module.Name is refused.
	Module, Name string
	// Fuel is the counter's initial value, and should be what the import
	// returns: how many function entries and loop iterations run between
	// two calls to the host. > 0.
	Fuel int32
}

// BulkShift charges bulk operations: memory.fill, memory.copy, memory.init,
// table.fill, table.copy and table.init cost one unit of fuel plus one per
// 1<<BulkShift bytes (or table elements), so that a loop around a large
// memory.fill cannot go Fuel iterations without calling the host. (A
// 64 KiB fill then costs about as much time per unit as a loop iteration;
// even a 16-byte memory.copy takes several times one, hence the unit.)
const BulkShift = 6

// Section ids.
const (
	secCustom    = 0
	secType      = 1
	secImport    = 2
	secFunction  = 3
	secTable     = 4
	secMemory    = 5
	secGlobal    = 6
	secExport    = 7
	secStart     = 8
	secElement   = 9
	secCode      = 10
	secData      = 11
	secDataCount = 12
)

// order is each known section's rank in the binary format's fixed order.
var order = map[byte]int{
	secType: 1, secImport: 2, secFunction: 3, secTable: 4, secMemory: 5, secGlobal: 6,
	secExport: 7, secStart: 8, secElement: 9, secDataCount: 10, secCode: 11, secData: 12,
}

var sectionNames = map[byte]string{
	secCustom: "custom", secType: "type", secImport: "import", secFunction: "function",
	secTable: "table", secMemory: "memory", secGlobal: "global", secExport: "export",
	secStart: "start", secElement: "element", secCode: "code", secData: "data",
	secDataCount: "data count", 13: "tag",
}

type section struct {
	id      byte
	payload []byte
	name    string // custom sections
}

// module is what the rewrite needs to know about the input.
type module struct {
	sections []section
	deferred error // the first section out of order or not supported
	size     int   // of the input

	funcImports   uint32 // imported functions: their indices do not move
	globalImports uint32
	globals       uint32   // imported + defined
	funcs         uint32   // imported + defined
	funcTypes     []uint32 // defined functions' type indices
	types         [][2][]byte
}

// Module returns bin instrumented as described in the package
// documentation, or an error if bin is malformed or uses something the
// rewriter does not decode. The output is a new slice; bin is not modified.
// The output is not validated here: the caller compiles it (wazero
// validates), and a module that was valid comes out valid.
func Module(bin []byte, opts Options) ([]byte, error) {
	if opts.Fuel <= 0 {
		return nil, errors.New("instrument: fuel must be > 0")
	}
	m, err := parse(bin)
	if err != nil {
		return nil, err
	}
	return m.rewrite(opts)
}

func parse(bin []byte) (*module, error) {
	if len(bin) < 8 || string(bin[:4]) != "\x00asm" {
		return nil, errors.New("not a WebAssembly binary (no \\0asm magic)")
	}
	if string(bin[4:8]) != "\x01\x00\x00\x00" {
		return nil, fmt.Errorf("unsupported WebAssembly binary version %x", bin[4:8])
	}
	m := &module{size: len(bin)}
	r := &reader{b: bin, off: 8}
	last := 0
	for !r.done() {
		start := r.off
		id := r.byte()
		size := r.u32()
		if r.err != nil {
			return nil, fmt.Errorf("section header at byte %d: %w", start, r.err)
		}
		if uint64(size) > uint64(len(r.b)-r.off) {
			return nil, fmt.Errorf("section %d at byte %d: size %d exceeds the %d bytes left: %w", id, start, size, len(r.b)-r.off, errEOF)
		}
		payload := r.b[r.off : r.off+int(size)]
		r.off += int(size)
		s := section{id: id, payload: payload}
		if id == secCustom {
			pr := &reader{b: payload}
			s.name = string(pr.vec())
			if pr.err != nil {
				return nil, fmt.Errorf("custom section at byte %d: name: %w", start, pr.err)
			}
		} else {
			// Reported after the sections are decoded, so that a
			// truncated section is reported as such (see errEOF).
			rank, ok := order[id]
			switch {
			case !ok:
				if n, ok := sectionNames[id]; ok {
					m.deferred = cmp.Or(m.deferred, fmt.Errorf("%s section (id %d): not supported", n, id))
				} else {
					m.deferred = cmp.Or(m.deferred, fmt.Errorf("unknown section id %d at byte %d", id, start))
				}
				continue
			case rank <= last:
				m.deferred = cmp.Or(m.deferred, fmt.Errorf("%s section at byte %d: out of order or repeated", sectionNames[id], start))
			}
			last = max(last, rank)
		}
		m.sections = append(m.sections, s)
	}
	for _, s := range m.sections {
		var err error
		switch s.id {
		case secType:
			err = m.parseTypes(s.payload)
		case secImport:
			err = m.parseImports(s.payload)
		case secFunction:
			err = m.parseFunctions(s.payload)
		case secGlobal:
			err = m.countGlobals(s.payload)
		case secMemory:
			err = checkMemories(s.payload)
		}
		if err != nil {
			return nil, fmt.Errorf("%s section: %w", sectionNames[s.id], err)
		}
	}
	m.funcs = m.funcImports + uint32(len(m.funcTypes))
	if m.funcs < m.funcImports {
		return nil, errors.New("too many functions")
	}
	return m, nil
}

func (m *module) parseTypes(p []byte) error {
	r := &reader{b: p}
	n := r.count()
	for i := uint32(0); i < n && r.err == nil; i++ {
		if form := r.byte(); form != 0x60 && r.err == nil {
			return fmt.Errorf("type %d: form %#x not supported (only func types)", i, form)
		}
		params := r.vec()
		results := r.vec()
		m.types = append(m.types, [2][]byte{params, results})
	}
	return r.end()
}

func (m *module) parseImports(p []byte) error {
	r := &reader{b: p}
	n := r.count()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.vec()
		r.vec()
		switch kind := r.byte(); kind {
		case 0x00:
			if t := r.u32(); r.err == nil && t >= uint32(len(m.types)) {
				return fmt.Errorf("import %d: type index %d out of range", i, t)
			}
			m.funcImports++
		case 0x01:
			r.byte() // reftype
			r.limits()
		case 0x02:
			r.limits()
		case 0x03:
			r.byte() // valtype
			r.byte() // mut
			m.globalImports++
		default:
			if r.err == nil {
				return fmt.Errorf("import %d: kind %#x not supported", i, kind)
			}
		}
	}
	m.globals = m.globalImports
	return r.end()
}

func checkMemories(p []byte) error {
	r := &reader{b: p}
	n := r.count()
	for i := uint32(0); i < n && r.err == nil; i++ {
		r.limits()
	}
	return r.end()
}

func (m *module) parseFunctions(p []byte) error {
	r := &reader{b: p}
	n := r.count()
	for i := uint32(0); i < n && r.err == nil; i++ {
		t := r.u32()
		if r.err == nil && t >= uint32(len(m.types)) {
			return fmt.Errorf("function %d: type index %d out of range", i, t)
		}
		m.funcTypes = append(m.funcTypes, t)
	}
	return r.end()
}

func (m *module) countGlobals(p []byte) error {
	r := &reader{b: p}
	n := r.count()
	if r.err == nil && uint64(m.globalImports)+uint64(n)+2 > 1<<32-1 {
		return errors.New("too many globals")
	}
	m.globals = m.globalImports + n
	return r.err
}

// idx is the new index of function i.
func (m *module) idx(i uint32) uint32 {
	if i >= m.funcImports {
		return i + 1
	}
	return i
}

func (m *module) rewrite(opts Options) ([]byte, error) {
	// The tick's type: an existing () -> i32 or a new one.
	tickType := uint32(len(m.types))
	for i, t := range m.types {
		if len(t[0]) == 0 && string(t[1]) == "\x7f" {
			tickType = uint32(i)
			break
		}
	}
	fuel := m.globals // the fuel counter and a scratch global follow every other global
	ids := ids{tick: m.funcImports, fuel: fuel, scratch: fuel + 1}

	have := map[byte]bool{}
	for _, s := range m.sections {
		have[s.id] = true
	}
	out := make([]byte, 0, m.size+m.size/8)
	out = append(out, "\x00asm\x01\x00\x00\x00"...)
	emit := func(id byte, payload []byte) {
		out = append(out, id)
		out = appendU32(out, uint32(len(payload)))
		out = append(out, payload...)
	}
	// add emits the sections the input lacks, just before the first
	// section of a later rank.
	added := map[byte]bool{}
	add := func(before int) error {
		for _, id := range []byte{secType, secImport, secGlobal} {
			if have[id] || added[id] || order[id] >= before {
				continue
			}
			added[id] = true
			var p []byte
			var err error
			switch id {
			case secType:
				p, err = m.types1(nil, tickType)
			case secImport:
				p, err = m.imports(nil, opts, tickType)
			case secGlobal:
				p, err = m.globals1(nil, opts, ids)
			}
			if err != nil {
				return err
			}
			emit(id, p)
		}
		return nil
	}
	// Missing sections of a later rank than any present go after the last
	// non-custom section, so that trailing custom sections stay last.
	last := -1
	for i, s := range m.sections {
		if s.id != secCustom {
			last = i
		}
	}
	if last < 0 {
		if err := add(1 << 30); err != nil {
			return nil, err
		}
	}
	for i, s := range m.sections {
		if s.id != secCustom {
			if err := add(order[s.id]); err != nil {
				return nil, err
			}
		}
		if i == last+1 && last >= 0 {
			if err := add(1 << 30); err != nil {
				return nil, err
			}
		}
		var p []byte
		var err error
		switch s.id {
		case secCustom:
			if s.name != "name" {
				emit(s.id, s.payload)
				continue
			}
			// Function names follow their functions (wazero's stack
			// traces use them). A name section this rewriter cannot read
			// fails the load, as it fails wazero's decoding.
			p, err = m.names(s.payload)
		case secType:
			p, err = m.types1(s.payload, tickType)
		case secImport:
			p, err = m.imports(s.payload, opts, tickType)
		case secTable:
			p, err = m.tables(s.payload)
		case secGlobal:
			p, err = m.globals1(s.payload, opts, ids)
		case secExport:
			p, err = m.exports(s.payload)
		case secStart:
			p, err = m.start(s.payload)
		case secElement:
			p, err = m.elements(s.payload)
		case secCode:
			p, err = m.code(s.payload, ids)
		case secData:
			p, err = m.data(s.payload)
		default:
			p = s.payload
		}
		if err != nil {
			return nil, fmt.Errorf("%s section: %w", cmp.Or(s.name, sectionNames[s.id]), err)
		}
		emit(s.id, p)
	}
	if err := add(1 << 30); err != nil { // when the last section is not custom
		return nil, err
	}
	if m.deferred != nil {
		return nil, m.deferred
	}
	if !have[secCode] && len(m.funcTypes) > 0 {
		return nil, fmt.Errorf("function section declares %d functions but there is no code section", len(m.funcTypes))
	}
	return out, nil
}

// ids are the indices the instrumentation uses.
type ids struct{ tick, fuel, scratch uint32 }

// types1 copies the type section (p may be nil) and appends () -> i32 if
// tickType is new.
func (m *module) types1(p []byte, tickType uint32) ([]byte, error) {
	n := uint32(len(m.types))
	if tickType < n {
		return p, nil
	}
	r := &reader{b: p}
	if p != nil {
		r.count()
	}
	out := appendU32(nil, n+1)
	out = append(out, r.rest()...)
	return append(out, 0x60, 0x00, 0x01, 0x7f), r.err
}

func (m *module) imports(p []byte, opts Options, tickType uint32) ([]byte, error) {
	r := &reader{b: p}
	var n uint32
	if p != nil {
		n = r.count()
	}
	if n == 1<<32-1 {
		return nil, errors.New("too many imports")
	}
	for i := uint32(0); i < n && r.err == nil; i++ {
		mod, name := r.vec(), r.vec()
		if string(mod) == opts.Module && string(name) == opts.Name {
			return nil, fmt.Errorf("import %s.%s is reserved for the host's instrumentation", mod, name)
		}
		switch r.byte() {
		case 0x00:
			r.u32()
		case 0x01:
			r.byte()
			r.limits()
		case 0x02:
			r.limits()
		case 0x03:
			r.byte()
			r.byte()
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	out := appendU32(nil, n+1)
	if p != nil {
		_, hdr := readU32(p)
		out = append(out, p[hdr:]...)
	}
	out = appendName(out, opts.Module)
	out = appendName(out, opts.Name)
	out = append(out, 0x00)
	return appendU32(out, tickType), nil
}

// globals1 rewrites the global section's initialisers (p may be nil) and
// appends the fuel counter and the scratch global: mutable i32s.
func (m *module) globals1(p []byte, opts Options, ids ids) ([]byte, error) {
	r := &reader{b: p}
	var n uint32
	if p != nil {
		n = r.count()
	}
	out := appendU32(nil, n+2)
	for i := uint32(0); i < n && r.err == nil; i++ {
		out = append(out, r.bytes(2)...) // valtype, mut
		var err error
		if out, err = m.constExpr(out, r); err != nil {
			return nil, fmt.Errorf("global %d: %w", i, err)
		}
	}
	if err := r.end(); err != nil {
		return nil, err
	}
	out = append(out, 0x7f, 0x01, 0x41)
	out = appendS32(out, opts.Fuel)
	out = append(out, 0x0b, 0x7f, 0x01, 0x41, 0x00, 0x0b)
	return out, nil
}

// tables refuses tables with an initialiser expression (function
// references): the rewriter would not see a ref.func in it.
func (m *module) tables(p []byte) ([]byte, error) {
	r := &reader{b: p}
	n := r.count()
	for i := uint32(0); i < n && r.err == nil; i++ {
		if t := r.byte(); t == 0x40 {
			return nil, fmt.Errorf("table %d: initialiser expressions not supported", i)
		}
		r.limits()
	}
	return p, r.end()
}

func (m *module) exports(p []byte) ([]byte, error) {
	r := &reader{b: p}
	n := r.count()
	out := appendU32(nil, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		out = append(out, r.vecRaw()...)
		kind := r.byte()
		idx := r.u32()
		out = append(out, kind)
		if kind == 0x00 {
			if r.err == nil && idx >= m.funcs {
				return nil, fmt.Errorf("export %d: function index %d out of range", i, idx)
			}
			idx = m.idx(idx)
		}
		out = appendU32(out, idx)
	}
	return out, r.end()
}

func (m *module) start(p []byte) ([]byte, error) {
	r := &reader{b: p}
	idx := r.u32()
	if err := r.end(); err != nil {
		return nil, err
	}
	if idx >= m.funcs {
		return nil, fmt.Errorf("function index %d out of range", idx)
	}
	return appendU32(nil, m.idx(idx)), nil
}

func (m *module) elements(p []byte) ([]byte, error) {
	r := &reader{b: p}
	n := r.count()
	out := appendU32(nil, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		if r.err != nil {
			break
		}
		if flags > 7 {
			return nil, fmt.Errorf("element segment %d: flags %d not supported", i, flags)
		}
		out = appendU32(out, flags)
		var err error
		if flags&3 == 2 { // active with a table index
			out = appendU32(out, r.u32())
		}
		if flags&1 == 0 { // active: offset expression
			if out, err = m.constExpr(out, r); err != nil {
				return nil, fmt.Errorf("element segment %d: offset: %w", i, err)
			}
		}
		if flags&3 != 0 { // elemkind or reftype
			out = append(out, r.byte())
		}
		cnt := r.count()
		out = appendU32(out, cnt)
		for j := uint32(0); j < cnt && r.err == nil; j++ {
			if flags&4 == 0 {
				idx := r.u32()
				if r.err == nil && idx >= m.funcs {
					return nil, fmt.Errorf("element segment %d: item %d: function index %d out of range", i, j, idx)
				}
				out = appendU32(out, m.idx(idx))
			} else if out, err = m.constExpr(out, r); err != nil {
				return nil, fmt.Errorf("element segment %d: item %d: %w", i, j, err)
			}
		}
	}
	return out, r.end()
}

// data checks the data segments' offset expressions (they may not read
// the globals the instrumentation adds) and copies the section.
func (m *module) data(p []byte) ([]byte, error) {
	r := &reader{b: p}
	n := r.count()
	for i := uint32(0); i < n && r.err == nil; i++ {
		flags := r.u32()
		if r.err == nil && flags > 2 {
			return nil, fmt.Errorf("data segment %d: flags %d not supported", i, flags)
		}
		if flags == 2 {
			r.u32()
		}
		if flags != 1 {
			if _, err := m.constExpr(nil, r); err != nil {
				return nil, fmt.Errorf("data segment %d: offset: %w", i, err)
			}
		}
		r.vec()
	}
	return p, r.end()
}

// constExpr copies a constant expression up to and including its end,
// renumbering ref.func.
func (m *module) constExpr(out []byte, r *reader) ([]byte, error) {
	for r.err == nil {
		at := r.off
		op := r.byte()
		switch op {
		case 0x0b:
			return append(out, op), nil
		case 0x41: // i32.const
			r.s32()
		case 0x42: // i64.const
			r.s64()
		case 0x43: // f32.const
			r.bytes(4)
		case 0x44: // f64.const
			r.bytes(8)
		case 0x23: // global.get
			if g := r.u32(); r.err == nil && g >= m.globals {
				return nil, fmt.Errorf("global index %d out of range", g)
			}
		case 0xd0: // ref.null
			r.byte()
		case 0xd2: // ref.func
			idx := r.u32()
			if r.err != nil {
				break
			}
			if idx >= m.funcs {
				return nil, fmt.Errorf("function index %d out of range", idx)
			}
			out = append(out, op)
			out = appendU32(out, m.idx(idx))
			continue
		case 0x6a, 0x6b, 0x6c, 0x7c, 0x7d, 0x7e: // extended constants
		default:
			if r.err == nil {
				return nil, fmt.Errorf("opcode %#x at byte %d not supported in a constant expression", op, at)
			}
		}
		out = append(out, r.b[at:r.off]...)
	}
	return nil, r.err
}

// names renumbers the function indices of the name section's function
// names (1), local names (2) and label names (3) subsections and copies
// the others.
func (m *module) names(p []byte) ([]byte, error) {
	r := &reader{b: p}
	out := append([]byte(nil), r.vecRaw()...) // "name"
	for !r.done() && r.err == nil {
		start := r.off
		id := r.byte()
		sub := r.vec()
		if r.err != nil {
			break
		}
		var body []byte
		var err error
		switch id {
		case 1:
			body, err = m.nameMap(sub, false)
		case 2, 3:
			body, err = m.nameMap(sub, true)
		default:
			// Byte for byte, header included: wazero reads some
			// subsections without regard to their declared size.
			out = append(out, r.b[start:r.off]...)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("subsection %d: %w", id, err)
		}
		out = append(out, id)
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out, r.err
}

// nameMap renumbers a name map's function indices; indirect: each entry's
// value is itself a name map, copied.
func (m *module) nameMap(p []byte, indirect bool) ([]byte, error) {
	r := &reader{b: p}
	n := r.count()
	out := appendU32(nil, n)
	for i := uint32(0); i < n && r.err == nil; i++ {
		out = appendU32(out, m.idx(r.u32()))
		if !indirect {
			out = append(out, r.vecRaw()...)
			continue
		}
		start := r.off
		k := r.count()
		for j := uint32(0); j < k && r.err == nil; j++ {
			r.u32()
			r.vec()
		}
		out = append(out, r.b[start:r.off]...)
	}
	return out, r.end()
}

// reader decodes the binary format. The first error sticks: later reads
// return zero values, so callers check r.err once after a run of reads.
type reader struct {
	b   []byte
	off int
	err error
}

// errEOF: the input ends before what it declares (a vector or section
// longer than the bytes left): malformed for any decoder.
var errEOF = errors.New("unexpected end")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = fmt.Errorf("byte %d: %w", r.off, err)
	}
}

func (r *reader) done() bool { return r.err != nil || r.off >= len(r.b) }

// end fails unless every byte was read.
func (r *reader) end() error {
	if r.err == nil && r.off != len(r.b) {
		r.fail(fmt.Errorf("%d trailing bytes", len(r.b)-r.off))
	}
	return r.err
}

func (r *reader) byte() byte {
	if r.err != nil {
		return 0
	}
	if r.off >= len(r.b) {
		r.fail(errEOF)
		return 0
	}
	c := r.b[r.off]
	r.off++
	return c
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail(errEOF)
		return nil
	}
	b := r.b[r.off : r.off+n]
	r.off += n
	return b
}

func (r *reader) rest() []byte {
	if r.err != nil {
		return nil
	}
	b := r.b[r.off:]
	r.off = len(r.b)
	return b
}

// vec reads a byte vector and returns its contents.
func (r *reader) vec() []byte { return r.bytes(int(r.u32())) }

// vecRaw reads a byte vector and returns it with its length prefix.
func (r *reader) vecRaw() []byte {
	start := r.off
	r.vec()
	if r.err != nil {
		return nil
	}
	return r.b[start:r.off]
}

// count reads a vector length and checks it against the bytes left (every
// element takes at least one byte), so a hostile count cannot make a loop
// run long.
func (r *reader) count() uint32 {
	n := r.u32()
	if r.err == nil && int64(n) > int64(len(r.b)-r.off) {
		r.fail(fmt.Errorf("count %d exceeds the %d bytes left: %w", n, len(r.b)-r.off, errEOF))
		return 0
	}
	return n
}

func (r *reader) u32() uint32 {
	v := r.uleb(32)
	return uint32(v)
}

func (r *reader) limits() {
	flags := r.byte()
	if r.err == nil && flags > 1 {
		r.fail(fmt.Errorf("limits flags %#x not supported (shared or 64-bit)", flags))
		return
	}
	r.u32()
	if flags == 1 {
		r.u32()
	}
}

// uleb reads an unsigned LEB128 of at most bits bits.
func (r *reader) uleb(bits uint) uint64 {
	var v uint64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift >= bits || (shift+7 > bits && c&0x7f>>(bits-shift) != 0) {
			r.fail(fmt.Errorf("integer too large for %d bits", bits))
			return 0
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
	}
}

// sleb reads a signed LEB128 of at most bits (<= 64) bits.
func (r *reader) sleb(bits uint) int64 {
	var v int64
	for shift := uint(0); ; shift += 7 {
		c := r.byte()
		if r.err != nil {
			return 0
		}
		if shift >= bits {
			r.fail(fmt.Errorf("integer too large for %d bits", bits))
			return 0
		}
		v |= int64(c&0x7f) << shift
		if c&0x80 == 0 {
			if shift+7 > bits {
				// The unused high bits must all copy the sign bit.
				rem := bits - shift // value bits in this byte, 1..6
				hi := c & 0x7f >> (rem - 1)
				if hi != 0 && hi != 0x7f>>(rem-1) {
					r.fail(fmt.Errorf("integer too large for %d bits", bits))
					return 0
				}
			}
			if shift+7 < 64 && c&0x40 != 0 {
				v |= -1 << (shift + 7) // sign extension
			}
			return v
		}
	}
}

func (r *reader) s32() { r.sleb(32) }
func (r *reader) s64() { r.sleb(64) }

func readU32(p []byte) (uint32, int) {
	r := &reader{b: p}
	v := r.u32()
	return v, r.off
}

func appendU32(b []byte, v uint32) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func appendS32(b []byte, v int32) []byte {
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(b, c)
		}
		b = append(b, c|0x80)
	}
}

func appendName(b []byte, s string) []byte {
	b = appendU32(b, uint32(len(s)))
	return append(b, s...)
}
