package queue

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// Segment format, version 2. A segment starts with segHeader and holds
// records, each
//
//	magic u32 | payload length u32 | record number u32 | signal u8 | items u32 | CRC-32C u32 | payload
//
// where the CRC covers the 17 bytes before it and the payload. The magic
// makes a record findable again after damage: recovery that meets a
// record failing its checks searches forward for the next magic whose
// header and payload check, and goes on from there, so one damaged byte
// (or a zero-filled hole a power loss left) costs only the records it
// touches. A false match needs the magic and a 32-bit CRC to agree by
// chance. The record number, which the .ack marks name, is written in the
// record so that the records after a damaged one keep their numbers.
//
// Marks (NNNNNNNN.ack) are 8 bytes each, the record number and its CRC-32C,
// so that a torn or zero-filled mark file cannot mark a record it never
// named (a zero mark would otherwise stand for record 0, losing it).
//
// Version 1 segments (no header; records "length | CRC | signal | items |
// payload", 4-byte marks), written by earlier releases, are still read,
// with version 1's rule: recovery of such a segment stops at its first bad
// record.
const (
	segHeader    = "OTGWJRN\x02"
	recMagic     = 0x3b9e4ad5
	recordHeader = 21
	markSize     = 8

	v1RecordHeader = 13
)

var recMagicBytes = binary.LittleEndian.AppendUint32(nil, recMagic)

// maxRecordSize bounds what recovery believes a record's length field.
const maxRecordSize = 1 << 30

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// appendRecord encodes one record onto b.
func appendRecord(b []byte, rec uint32, sig otlpwire.Signal, items int, payload []byte) []byte {
	var h [recordHeader]byte
	binary.LittleEndian.PutUint32(h[0:], recMagic)
	binary.LittleEndian.PutUint32(h[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[8:], rec)
	h[12] = byte(sig)
	binary.LittleEndian.PutUint32(h[13:], uint32(items))
	binary.LittleEndian.PutUint32(h[17:], crc32.Update(crc32.Checksum(h[:17], crcTable), crcTable, payload))
	return append(append(b, h[:]...), payload...)
}

func appendMark(b []byte, rec uint32) []byte {
	b = binary.LittleEndian.AppendUint32(b, rec)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[len(b)-4:], crcTable))
}

// scanStats is what a segment's recovery skipped.
type scanStats struct {
	corruptRecords int // records lost to damage (at least 1 per damaged stretch)
	skippedBytes   int // bytes that belong to no intact record
}

// record is one intact record of a segment; payload aliases the segment's
// bytes.
type record struct {
	rec     uint32
	sig     otlpwire.Signal
	items   int
	payload []byte
}

// scanSegment calls fn on every intact record of a segment's bytes, in
// order, whatever the bytes are: it never fails, panics or loops (every
// step moves forward). v1 says the segment is in the old format.
func scanSegment(b []byte, fn func(record)) (st scanStats, v1 bool) {
	if !bytes.HasPrefix(b, []byte(segHeader)) {
		if _, _, ok := parseV1(b); ok {
			return scanV1(b, fn), true
		}
		// A version 2 segment whose header is damaged, or no segment at
		// all: its first bytes are skipped, and the rest searched for
		// records like any damaged stretch.
		h := min(len(b), len(segHeader))
		st.skippedBytes += h
		b = b[h:]
	} else {
		b = b[len(segHeader):]
	}
	pos, bad := 0, -1 // bad: where the current damaged stretch began
	next := uint32(0) // the record number expected next
	endBad := func(at int, lost uint32) {
		if bad >= 0 {
			st.skippedBytes += at - bad
			st.corruptRecords += max(int(lost), 1)
			bad = -1
		}
	}
	for pos < len(b) {
		r, n, ok := parseV2(b[pos:])
		if ok && r.rec >= next {
			endBad(pos, r.rec-next)
			fn(r)
			next = r.rec + 1
			pos += n
			continue
		}
		if bad < 0 {
			bad = pos
		}
		i := bytes.Index(b[pos+1:], recMagicBytes)
		if i < 0 {
			break
		}
		pos += 1 + i
	}
	endBad(len(b), 0)
	return st, false
}

// parseV2 checks the record at the start of b and reports its length.
func parseV2(b []byte) (record, int, bool) {
	if len(b) < recordHeader || binary.LittleEndian.Uint32(b) != recMagic {
		return record{}, 0, false
	}
	size := binary.LittleEndian.Uint32(b[4:])
	if size > maxRecordSize || int64(size) > int64(len(b)-recordHeader) {
		return record{}, 0, false
	}
	n := recordHeader + int(size)
	payload := b[recordHeader:n]
	if crc32.Update(crc32.Checksum(b[:17], crcTable), crcTable, payload) != binary.LittleEndian.Uint32(b[17:]) {
		return record{}, 0, false
	}
	sig := otlpwire.Signal(b[12])
	if sig >= otlpwire.NumSignals {
		return record{}, 0, false
	}
	return record{rec: binary.LittleEndian.Uint32(b[8:]), sig: sig, items: int(binary.LittleEndian.Uint32(b[13:])), payload: payload}, n, true
}

func parseV1(b []byte) (record, int, bool) {
	if len(b) < v1RecordHeader {
		return record{}, 0, false
	}
	size := binary.LittleEndian.Uint32(b)
	if size > maxRecordSize || int64(size) > int64(len(b)-v1RecordHeader) {
		return record{}, 0, false
	}
	n := v1RecordHeader + int(size)
	payload := b[v1RecordHeader:n]
	sig := otlpwire.Signal(b[8])
	if crc32.Update(crc32.Checksum(b[8:v1RecordHeader], crcTable), crcTable, payload) != binary.LittleEndian.Uint32(b[4:]) || sig >= otlpwire.NumSignals {
		return record{}, 0, false
	}
	return record{sig: sig, items: int(binary.LittleEndian.Uint32(b[9:])), payload: payload}, n, true
}

// scanV1 reads a version 1 segment, whose records are numbered by their
// place: it stops at the first bad record.
func scanV1(b []byte, fn func(record)) (st scanStats) {
	pos := 0
	for n := uint32(0); pos < len(b); n++ {
		r, size, ok := parseV1(b[pos:])
		if !ok {
			st.corruptRecords, st.skippedBytes = 1, len(b)-pos
			break
		}
		r.rec = n
		fn(r)
		pos += size
	}
	return st
}

// parseMarks reads a mark file: the record numbers marked delivered.
// v1 mark files are bare u32s; a version 2 mark failing its CRC (torn or
// zero-filled) marks nothing.
func parseMarks(b []byte, v1 bool) map[uint32]bool {
	acked := map[uint32]bool{}
	if v1 {
		for i := 0; i+4 <= len(b); i += 4 {
			acked[binary.LittleEndian.Uint32(b[i:])] = true
		}
		return acked
	}
	for i := 0; i+markSize <= len(b); i += markSize {
		if crc32.Checksum(b[i:i+4], crcTable) == binary.LittleEndian.Uint32(b[i+4:]) {
			acked[binary.LittleEndian.Uint32(b[i:])] = true
		}
	}
	return acked
}
