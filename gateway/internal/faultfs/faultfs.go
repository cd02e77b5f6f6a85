// Package faultfs is the file-system seam of the persistent queue's write
// path, and a fault-injecting implementation of it for tests.
//
// The journal (gateway/queue) creates, writes, syncs, truncates and
// removes its segment and mark files through an FS; the gateway uses OS.
// Tests at any level (the queue's own, and the gateway's end-to-end ones,
// through gateway.Settings.FS) pass a *Faulty instead, to fill the disk
// or fail writes and fsyncs while load runs.
package faultfs

import (
	"io"
	"os"
	"sync"
	"syscall"
)

// FS is the few file operations the journal uses: creating, writing,
// syncing, truncating and removing segment and mark files, and reading
// earlier instances' files back (replay).
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Open(name string) (io.ReadCloser, error)
	Remove(name string) error
}

// File is an open segment or mark file.
type File interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

// OS is the real file system.
type OS struct{}

var _ FS = OS{}

// OpenFile is os.OpenFile.
func (OS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return f, nil
}

// Open is os.Open.
func (OS) Open(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Remove is os.Remove.
func (OS) Remove(name string) error { return os.Remove(name) }

// Faulty is an FS over the real one that fails on demand, switchable at
// run time and safe for concurrent use:
//   - a quota of bytes across the files it wrote, a full disk: the write
//     that crosses it is cut short with ENOSPC as a real one is, creating
//     a file on a full disk fails with ENOSPC, and Remove (or Truncate)
//     gives the space back;
//   - injected errors for the next n writes or syncs;
//   - syncs held until released, to order concurrent appends in a test;
//   - reads that fail for the files a function picks (an unreadable
//     segment of an earlier instance).
//
// The zero value is not usable; call New.
type Faulty struct {
	mu    sync.Mutex
	quota int64 // < 0: none
	used  int64
	sizes map[string]int64
	// writeErr and syncErr fail the next failWrites writes and failSyncs
	// syncs (< 0: every one until changed).
	writeErr, syncErr     error
	failWrites, failSyncs int
	syncs, failedSyncs    int
	failedWrites          int
	gate, started         chan struct{}
	// openErr, when set, decides which reads fail (FailOpens).
	openErr func(name string) error
}

var _ FS = (*Faulty)(nil)

// New returns a Faulty with no quota and no faults: it behaves as OS.
func New() *Faulty { return &Faulty{quota: -1, sizes: map[string]int64{}} }

// SetQuota makes the disk hold bytes in all (< 0: no limit).
func (fs *Faulty) SetQuota(bytes int64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.quota = bytes
}

// FillUp sets the quota to what is used now: the disk is full.
func (fs *Faulty) FillUp() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.quota = fs.used
}

// Used is the bytes held by the files this FS wrote and has not removed.
func (fs *Faulty) Used() int64 {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.used
}

// FailWrites makes the next n writes fail with err without writing
// anything (n < 0: every write until FailWrites(nil, 0)).
func (fs *Faulty) FailWrites(err error, n int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.writeErr, fs.failWrites = err, n
}

// FailSyncs makes the next n fsyncs fail with err (n < 0: every fsync
// until FailSyncs(nil, 0)). The data written stays in the file, as after
// a real failed fsync, where nobody can tell what reached the disk.
func (fs *Faulty) FailSyncs(err error, n int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.syncErr, fs.failSyncs = err, n
}

// Syncs is how many fsyncs were attempted, and how many of them failed
// on purpose.
func (fs *Faulty) Syncs() (attempted, failed int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.syncs, fs.failedSyncs
}

// FailedWrites is how many writes failed on purpose or on the quota.
func (fs *Faulty) FailedWrites() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.failedWrites
}

// HoldSyncs holds every fsync from now on until release is called: each
// one sends on started (unbuffered) before it waits. Faults are decided
// after the wait, so a test can hold a sync, arrange more appends, then
// make it fail.
func (fs *Faulty) HoldSyncs() (started <-chan struct{}, release func()) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	gate, st := make(chan struct{}), make(chan struct{})
	fs.gate, fs.started = gate, st
	var once sync.Once
	return st, func() {
		once.Do(func() {
			fs.mu.Lock()
			if fs.gate == gate {
				fs.gate, fs.started = nil, nil
			}
			fs.mu.Unlock()
			close(gate)
		})
	}
}

// OpenFile opens name on the real file system; with O_CREATE it fails
// with ENOSPC while the quota is used up.
func (fs *Faulty) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.quota >= 0 && fs.used >= fs.quota && flag&os.O_CREATE != 0 {
		return nil, &os.PathError{Op: "open", Path: name, Err: syscall.ENOSPC}
	}
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	if flag&os.O_TRUNC != 0 {
		fs.used -= fs.sizes[name]
		fs.sizes[name] = 0
	}
	return &faultyFile{fs: fs, f: f, name: name}, nil
}

// FailOpens makes Open fail with the error fail returns for a name (nil:
// open it); FailOpens(nil) ends it.
func (fs *Faulty) FailOpens(fail func(name string) error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.openErr = fail
}

// Open opens name for reading, unless FailOpens says it fails.
func (fs *Faulty) Open(name string) (io.ReadCloser, error) {
	fs.mu.Lock()
	fail := fs.openErr
	fs.mu.Unlock()
	if fail != nil {
		if err := fail(name); err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
	return OS{}.Open(name)
}

// Remove removes name and gives its bytes back to the quota.
func (fs *Faulty) Remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	err := os.Remove(name)
	if err == nil {
		fs.used -= fs.sizes[name]
		delete(fs.sizes, name)
	}
	return err
}

type faultyFile struct {
	fs   *Faulty
	f    *os.File
	name string
}

func (f *faultyFile) Write(p []byte) (int, error) {
	fs := f.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.failWrites != 0 {
		if fs.failWrites > 0 {
			fs.failWrites--
		}
		fs.failedWrites++
		return 0, &os.PathError{Op: "write", Path: f.name, Err: fs.writeErr}
	}
	n := int64(len(p))
	var err error
	if fs.quota >= 0 && fs.used+n > fs.quota {
		n = max(fs.quota-fs.used, 0)
		err = &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
		fs.failedWrites++
	}
	w, werr := f.f.Write(p[:n])
	fs.used += int64(w)
	fs.sizes[f.name] += int64(w)
	if werr != nil {
		return w, werr
	}
	return w, err
}

func (f *faultyFile) Sync() error {
	fs := f.fs
	fs.mu.Lock()
	fs.syncs++
	if gate := fs.gate; gate != nil {
		started := fs.started
		fs.mu.Unlock()
		started <- struct{}{}
		<-gate
		fs.mu.Lock()
	}
	if fs.failSyncs != 0 {
		if fs.failSyncs > 0 {
			fs.failSyncs--
		}
		fs.failedSyncs++
		err := fs.syncErr
		fs.mu.Unlock()
		return &os.PathError{Op: "sync", Path: f.name, Err: err}
	}
	fs.mu.Unlock()
	return f.f.Sync()
}

func (f *faultyFile) Truncate(size int64) error {
	fs := f.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if err := f.f.Truncate(size); err != nil {
		return err
	}
	fs.used += size - fs.sizes[f.name]
	fs.sizes[f.name] = size
	return nil
}

func (f *faultyFile) Close() error { return f.f.Close() }
