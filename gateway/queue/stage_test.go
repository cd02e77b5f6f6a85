package queue

import (
	"syscall"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/internal/faultfs"
	"github.com/otlpgw/otlpgw/gateway/otlpwire"
)

// TestStageRefusedByOneQueueKeepsNothingInAny is the producer's side of
// "a refused request is queued nowhere": a request staged in a healthy
// persistent queue and refused by a second one whose journal cannot write
// is aborted in the first, so its workers never see it and no later run
// replays it (the client, told to retry, sends it again).
func TestStageRefusedByOneQueueKeepsNothingInAny(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	qa, _ := openFaulty(t, dirA, faultfs.New())
	fsB := faultfs.New()
	qb, _ := openFaulty(t, dirB, fsB)
	fsB.FailWrites(syscall.EIO, 1)

	e := Entry{Sig: otlpwire.Traces, Req: big(1), Items: 1}
	for _, q := range []*Queue{qa, qb} {
		if !q.Reserve(int64(len(e.Req))) {
			t.Fatal("reserve refused")
		}
	}
	sa, ok := qa.Stage([]Entry{e})
	if !ok {
		t.Fatal("healthy queue refused to stage")
	}
	if _, ok := qb.Stage([]Entry{e}); ok {
		t.Fatal("queue with a failing journal staged the request")
	}
	sa.Abort()
	if qa.Len() != 0 || qa.UsedBytes() != 0 || qb.UsedBytes() != 0 {
		t.Fatalf("after the abort: %d entries queued, %d and %d bytes held; want none", qa.Len(), qa.UsedBytes(), qb.UsedBytes())
	}
	qa.Close()
	if err := qa.CloseJournal(); err != nil {
		t.Fatal(err)
	}
	qa2, recovered, err := NewPersistent(1<<20, dirA)
	if err != nil {
		t.Fatal(err)
	}
	defer qa2.CloseJournal()
	if recovered != 0 {
		t.Fatalf("the next run replays %d items of the aborted request, want 0", recovered)
	}

	// The commit path, for contrast: staged and committed is delivered.
	defer qb.CloseJournal()
	if !qb.Reserve(int64(len(e.Req))) {
		t.Fatal("reserve refused")
	}
	sb, ok := qb.Stage([]Entry{e})
	if !ok || !sb.Commit() || qb.Len() != 1 {
		t.Fatalf("healed queue: staged %v, %d entries queued; want the request queued", ok, qb.Len())
	}
}
