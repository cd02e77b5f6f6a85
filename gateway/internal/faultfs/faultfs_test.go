package faultfs

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFaultyActsLikeAFullDiskAndFailsOnDemand: the quota cuts a write
// short with ENOSPC and refuses new files, Remove gives the space back,
// and injected write and sync errors hit exactly the next n operations.
func TestFaultyActsLikeAFullDiskAndFailsOnDemand(t *testing.T) {
	fs := New()
	fs.SetQuota(10)
	name := filepath.Join(t.TempDir(), "f")
	f, err := fs.OpenFile(name, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if n, err := f.Write(make([]byte, 8)); n != 8 || err != nil {
		t.Fatalf("write under the quota: %d, %v", n, err)
	}
	if n, err := f.Write(make([]byte, 8)); n != 2 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write across the quota: %d, %v; want 2, ENOSPC", n, err)
	}
	if _, err := fs.OpenFile(name+"2", os.O_CREATE|os.O_WRONLY, 0o600); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("create on a full disk: %v, want ENOSPC", err)
	}
	f.Close()
	if err := fs.Remove(name); err != nil || fs.Used() != 0 {
		t.Fatalf("remove: %v, used %d; want the space back", err, fs.Used())
	}
	fs.SetQuota(-1)
	f, err = fs.OpenFile(name, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fs.FailWrites(syscall.EIO, 1)
	fs.FailSyncs(syscall.EIO, 2)
	if _, err := f.Write([]byte("x")); !errors.Is(err, syscall.EIO) {
		t.Errorf("first write: %v, want EIO", err)
	}
	if _, err := f.Write([]byte("x")); err != nil {
		t.Errorf("second write: %v, want none", err)
	}
	for i, want := range []error{syscall.EIO, syscall.EIO, nil} {
		if err := f.Sync(); !errors.Is(err, want) {
			t.Errorf("sync %d: %v, want %v", i, err, want)
		}
	}
	if a, failed := fs.Syncs(); a != 3 || failed != 2 || fs.FailedWrites() != 2 {
		t.Errorf("syncs %d (failed %d), failed writes %d; want 3 (2), 2", a, failed, fs.FailedWrites())
	}
}
