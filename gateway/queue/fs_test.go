package queue

import (
	"io"
	"os"
	"sync"
	"syscall"
)

// faultFS is a fileSystem over the real one that fails on demand: a
// quota of bytes across the files it wrote (a full disk: the write that
// crosses it is cut short with ENOSPC, as a real one is, and Remove gives
// the space back), and injected errors for the next writes or syncs.
type faultFS struct {
	mu    sync.Mutex
	quota int64 // < 0: none
	used  int64
	sizes map[string]int64
	// writeErr and syncErr fail the next failWrites writes and failSyncs
	// syncs (< 0: every one until reset).
	writeErr, syncErr     error
	failWrites, failSyncs int
	syncs                 int // syncs attempted
	// gate, when set, holds every sync until it is closed; started hears
	// of each sync that waits on it.
	gate, started chan struct{}
	// openErr, when set, fails the reads of the files it names.
	openErr func(name string) error
}

func newFaultFS() *faultFS { return &faultFS{quota: -1, sizes: map[string]int64{}} }

var _ fileSystem = (*faultFS)(nil)

func (fs *faultFS) setQuota(q int64) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.quota = q
}

// fillUp sets the quota to what is used now: the disk is full.
func (fs *faultFS) fillUp() {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.quota = fs.used
}

func (fs *faultFS) failSync(err error, n int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.syncErr, fs.failSyncs = err, n
}

func (fs *faultFS) failWrite(err error, n int) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	fs.writeErr, fs.failWrites = err, n
}

func (fs *faultFS) OpenFile(name string, flag int, perm os.FileMode) (journalFile, error) {
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
	return &faultFile{fs: fs, f: f, name: name}, nil
}

func (fs *faultFS) Open(name string) (io.ReadCloser, error) {
	fs.mu.Lock()
	fail := fs.openErr
	fs.mu.Unlock()
	if fail != nil {
		if err := fail(name); err != nil {
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
	return osFS{}.Open(name)
}

func (fs *faultFS) Remove(name string) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	err := os.Remove(name)
	if err == nil {
		fs.used -= fs.sizes[name]
		delete(fs.sizes, name)
	}
	return err
}

type faultFile struct {
	fs   *faultFS
	f    *os.File
	name string
}

func (f *faultFile) Write(p []byte) (int, error) {
	fs := f.fs
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.failWrites != 0 {
		if fs.failWrites > 0 {
			fs.failWrites--
		}
		return 0, &os.PathError{Op: "write", Path: f.name, Err: fs.writeErr}
	}
	n := int64(len(p))
	var err error
	if fs.quota >= 0 && fs.used+n > fs.quota {
		n = max(fs.quota-fs.used, 0)
		err = &os.PathError{Op: "write", Path: f.name, Err: syscall.ENOSPC}
	}
	w, werr := f.f.Write(p[:n])
	fs.used += int64(w)
	fs.sizes[f.name] += int64(w)
	if werr != nil {
		return w, werr
	}
	return w, err
}

func (f *faultFile) Sync() error {
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
		err := fs.syncErr
		fs.mu.Unlock()
		return &os.PathError{Op: "sync", Path: f.name, Err: err}
	}
	fs.mu.Unlock()
	return f.f.Sync()
}

func (f *faultFile) Truncate(size int64) error {
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

func (f *faultFile) Close() error { return f.f.Close() }
