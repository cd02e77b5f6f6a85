package exporter

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/otlpgw/otlpgw/gateway/otlpwire"
	"github.com/otlpgw/otlpgw/gateway/queue"
	"github.com/otlpgw/otlpgw/gateway/telemetry"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestPersistentQueueJournalMetrics: a persistent queue's journal reports
// under the exporter's name: what recovery skipped in a damaged segment,
// that the journal is healthy, and that no backlog is left on disk.
func TestPersistentQueueJournalMetrics(t *testing.T) {
	dir := t.TempDir()
	q, _, err := queue.NewPersistent(1<<20, filepath.Join(dir, "up"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		req := bytes.Repeat([]byte{byte(i)}, 100)
		if !q.Reserve(100) || !q.Push(queue.Entry{Sig: otlpwire.Logs, Req: req, Items: 1}) {
			t.Fatal("push refused")
		}
	}
	q.CloseJournal() // undelivered: stays on disk
	wals, _ := filepath.Glob(filepath.Join(dir, "up", "*", "*.wal"))
	if len(wals) != 1 {
		t.Fatalf("segments %v, want 1", wals)
	}
	b, err := os.ReadFile(wals[0])
	if err != nil {
		t.Fatal(err)
	}
	const header, record = 8, 21 + 100
	b[header+record+50] ^= 0xff // in the middle record's payload
	if err := os.WriteFile(wals[0], b, 0o600); err != nil {
		t.Fatal(err)
	}

	tm := telemetry.NewMetrics()
	e, err := New(testCfg("debug", ""), noLinger, 1<<20, Settings{Metrics: tm, PersistentDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(context.Background())
	if n := e.Queue().Items(); n != 2 {
		t.Errorf("recovered %d items, want the 2 intact", n)
	}
	if v := testutil.ToFloat64(tm.JournalCorruptRecords.WithLabelValues("up")); v != 1 {
		t.Errorf("queue_journal_corrupt_records_total = %v, want 1", v)
	}
	if v := testutil.ToFloat64(tm.JournalSkippedBytes.WithLabelValues("up")); v != record {
		t.Errorf("queue_journal_skipped_bytes_total = %v, want %d", v, record)
	}
	if v := testutil.ToFloat64(tm.JournalHealthy.WithLabelValues("up")); v != 1 {
		t.Errorf("queue_journal_healthy = %v, want 1", v)
	}
	if v := testutil.ToFloat64(tm.JournalBacklog.WithLabelValues("up")); v != 0 {
		t.Errorf("queue_journal_backlog_bytes = %v after a backlog the window holds, want 0", v)
	}
	if err := e.Queue().StorageError(); err != nil {
		t.Errorf("StorageError = %v", err)
	}
}

// TestPersistentQueueBacklogGauge: a backlog larger than the replay
// window shows in queue_journal_backlog_bytes until it is read.
func TestPersistentQueueBacklogGauge(t *testing.T) {
	dir := t.TempDir()
	q, _, err := queue.NewPersistent(8<<20, filepath.Join(dir, "up"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 64 {
		req := bytes.Repeat([]byte{byte(i)}, 32<<10)
		if !q.Reserve(int64(len(req))) || !q.Push(queue.Entry{Sig: otlpwire.Logs, Req: req, Items: 1}) {
			t.Fatal("push refused")
		}
	}
	q.CloseJournal() // 2 MiB undelivered
	tm := telemetry.NewMetrics()
	e, err := New(testCfg("debug", ""), noLinger, 1<<20, Settings{Metrics: tm, PersistentDir: dir}) // window 512 KiB
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown(context.Background())
	v := testutil.ToFloat64(tm.JournalBacklog.WithLabelValues("up"))
	if v <= 0 || int64(v) != e.Queue().BacklogBytes() {
		t.Errorf("queue_journal_backlog_bytes = %v, BacklogBytes %d: want the same, above 0", v, e.Queue().BacklogBytes())
	}
}
