package instrument

import (
	"errors"
	"fmt"
)

// maxLocals bounds one function's locals (as V8 does): wazero allocates
// them all while decoding, so a declared count of 4 billion would cost
// gigabytes at load.
const maxLocals = 50000

// code rewrites every function body of the code section.
func (m *module) code(p []byte, ids ids) ([]byte, error) {
	r := &reader{b: p}
	n := r.count()
	if r.err == nil && n != uint32(len(m.funcTypes)) {
		return nil, fmt.Errorf("%d bodies for %d functions", n, len(m.funcTypes))
	}
	out := appendU32(make([]byte, 0, len(p)+len(p)/8), n)
	var body []byte
	for i := uint32(0); i < n && r.err == nil; i++ {
		size := r.u32()
		src := r.bytes(int(size))
		if r.err != nil {
			break
		}
		var err error
		body, err = m.body(body[:0], src, ids)
		if err != nil {
			return nil, fmt.Errorf("function %d: body %w", m.funcImports+i, err)
		}
		if uint64(len(body)) > 1<<32-1 {
			return nil, fmt.Errorf("function %d: too large", m.funcImports+i)
		}
		out = appendU32(out, uint32(len(body)))
		out = append(out, body...)
	}
	return out, r.end()
}

// check is the instrumentation at a function entry or loop header: one
// unit of fuel, and the host call when it runs out.
//
//	global.get fuel  i32.const 1  i32.sub  global.set fuel
//	global.get fuel  i32.const 0  i32.le_s
//	if  call tick  global.set fuel  end
func appendCheck(out []byte, ids ids) []byte {
	out = appendGlobal(out, 0x23, ids.fuel)
	out = append(out, 0x41, 0x01, 0x6b)
	out = appendGlobal(out, 0x24, ids.fuel)
	return appendRefill(out, ids)
}

func appendRefill(out []byte, ids ids) []byte {
	out = appendGlobal(out, 0x23, ids.fuel)
	out = append(out, 0x41, 0x00, 0x4c, 0x04, 0x40, 0x10)
	out = appendU32(out, ids.tick)
	out = appendGlobal(out, 0x24, ids.fuel)
	return append(out, 0x0b)
}

// appendCharge is the instrumentation before a bulk operation, whose
// length n (i32) is on top of the stack: 1 + n>>BulkShift units of fuel.
//
//	global.set scratch  global.get scratch
//	global.get fuel  global.get scratch  i32.const BulkShift  i32.shr_u  i32.sub
//	i32.const 1  i32.sub  global.set fuel
//	(the refill test of appendCheck)
func appendCharge(out []byte, ids ids) []byte {
	out = appendGlobal(out, 0x24, ids.scratch)
	out = appendGlobal(out, 0x23, ids.scratch)
	out = appendGlobal(out, 0x23, ids.fuel)
	out = appendGlobal(out, 0x23, ids.scratch)
	out = append(out, 0x41, BulkShift, 0x76, 0x6b, 0x41, 0x01, 0x6b)
	out = appendGlobal(out, 0x24, ids.fuel)
	return appendRefill(out, ids)
}

func appendGlobal(out []byte, op byte, idx uint32) []byte {
	return appendU32(append(out, op), idx)
}

// body rewrites one function body: its locals are copied, a check goes at
// its entry (unless it starts with a loop, whose header check runs at
// entry anyway) and after every loop instruction, a charge before every
// bulk operation, and function indices are renumbered.
func (m *module) body(out, src []byte, ids ids) ([]byte, error) {
	r := &reader{b: src}
	groups := r.count()
	var locals uint64
	for i := uint32(0); i < groups && r.err == nil; i++ {
		locals += uint64(r.u32())
		switch t := r.byte(); t {
		case 0x7f, 0x7e, 0x7d, 0x7c, 0x7b, 0x70, 0x6f:
		default:
			if r.err == nil {
				return nil, fmt.Errorf("locals: type %#x not supported", t)
			}
		}
	}
	if r.err != nil {
		return nil, fmt.Errorf("locals: %w", r.err)
	}
	if locals > maxLocals {
		return nil, fmt.Errorf("declares %d locals, more than the %d supported", locals, maxLocals)
	}
	out = append(out, src[:r.off]...)
	if r.off >= len(src) || src[r.off] != 0x03 {
		out = appendCheck(out, ids)
	}
	// src[from:] is yet to be copied: unchanged instructions are copied in
	// runs, when something is inserted or renumbered, and at the end.
	from := r.off
	for !r.done() {
		at := r.off
		op := r.byte()
		switch {
		case op <= 0x01, op == 0x05, op == 0x0b, op == 0x0f, op == 0x1a, op == 0x1b, op == 0xd1,
			op >= 0x45 && op <= 0xc4:
			// no immediates: unreachable, nop, else, end, return, drop,
			// select, ref.is_null, numeric and sign extension
		case op == 0x02, op == 0x04: // block, if
			if err := m.blockType(r); err != nil {
				return nil, fmt.Errorf("byte %d: %w", at, err)
			}
		case op == 0x03: // loop
			if err := m.blockType(r); err != nil {
				return nil, fmt.Errorf("byte %d: %w", at, err)
			}
			if r.err == nil {
				out = append(out, src[from:r.off]...)
				out = appendCheck(out, ids)
				from = r.off
			}
		case op == 0x0c, op == 0x0d: // br, br_if
			r.u32()
		case op == 0x0e: // br_table
			n := r.count()
			for i := uint32(0); i <= n && r.err == nil; i++ {
				r.u32()
			}
		case op == 0x10, op == 0x12, op == 0xd2: // call, return_call, ref.func
			idx := r.u32()
			if r.err != nil {
				break
			}
			if idx >= m.funcs {
				return nil, fmt.Errorf("byte %d: function index %d out of range", at, idx)
			}
			out = append(out, src[from:at]...)
			out = appendU32(append(out, op), m.idx(idx))
			from = r.off
		case op == 0x11, op == 0x13: // call_indirect, return_call_indirect
			if t := r.u32(); r.err == nil && t >= uint32(len(m.types)) {
				return nil, fmt.Errorf("byte %d: type index %d out of range", at, t)
			}
			r.u32()
		case op == 0x1c: // select t*
			n := r.count()
			r.bytes(int(n))
		case op >= 0x20 && op <= 0x22: // local.get, local.set, local.tee
			r.u32()
		case op == 0x23, op == 0x24: // global.get, global.set
			if g := r.u32(); r.err == nil && g >= m.globals {
				return nil, fmt.Errorf("byte %d: global index %d out of range", at, g)
			}
		case op == 0x25, op == 0x26: // table.get, table.set
			r.u32()
		case op >= 0x28 && op <= 0x3e: // loads and stores: memarg
			if align := r.u32(); r.err == nil && align >= 0x40 {
				return nil, fmt.Errorf("byte %d: memarg with a memory index (multi-memory) not supported", at)
			}
			r.u32()
		case op == 0x3f, op == 0x40: // memory.size, memory.grow
			r.u32()
		case op == 0x41:
			r.s32()
		case op == 0x42:
			r.s64()
		case op == 0x43:
			r.bytes(4)
		case op == 0x44:
			r.bytes(8)
		case op == 0xd0: // ref.null
			r.byte()
		case op == 0xfc:
			sub := r.u32()
			if r.err != nil {
				break
			}
			bulk := false
			switch sub {
			case 0, 1, 2, 3, 4, 5, 6, 7: // saturating truncation
			case 8: // memory.init data mem
				r.u32()
				r.u32()
				bulk = true
			case 9, 13, 15, 16: // data.drop, elem.drop, table.grow, table.size
				r.u32()
			case 10, 12, 14: // memory.copy, table.init, table.copy: two indices
				r.u32()
				r.u32()
				bulk = true
			case 11, 17: // memory.fill, table.fill
				r.u32()
				bulk = true
			default:
				return nil, fmt.Errorf("byte %d: opcode 0xfc %d not supported", at, sub)
			}
			if bulk && r.err == nil {
				out = append(out, src[from:at]...)
				out = appendCharge(out, ids)
				from = at
			}
		default:
			return nil, fmt.Errorf("byte %d: opcode %#x not supported (%s)", at, op, unsupported(op))
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	out = append(out, src[from:]...)
	if len(src) == 0 || src[len(src)-1] != 0x0b {
		return nil, errors.New("does not end with end")
	}
	return out, nil
}

// blockType reads a block type; a type index must be one of the input's
// (the instrumentation may append one).
func (m *module) blockType(r *reader) error {
	if t := r.sleb(33); r.err == nil && t >= int64(len(m.types)) {
		return fmt.Errorf("block type index %d out of range", t)
	}
	return nil
}

func unsupported(op byte) string {
	switch {
	case op == 0xfd:
		return "SIMD"
	case op == 0xfe:
		return "threads"
	case op >= 0x06 && op <= 0x0a, op == 0x18, op == 0x19, op == 0x1f:
		return "exception handling"
	case op >= 0x14 && op <= 0x17, op >= 0xd3 && op <= 0xd6, op == 0xfb:
		return "function references or GC"
	}
	return "unknown"
}
