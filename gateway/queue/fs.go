package queue

import (
	"io"
	"os"
)

// fileSystem is the few file operations the journal uses: creating
// segment and mark files, writing, syncing and truncating them, deleting
// them, and reading earlier ones (replay). It is a seam for tests, which
// inject ENOSPC, EIO and EACCES (see faultFS in fs_test.go); the gateway
// uses osFS.
type fileSystem interface {
	OpenFile(name string, flag int, perm os.FileMode) (journalFile, error)
	Open(name string) (io.ReadCloser, error)
	Remove(name string) error
}

// journalFile is an open segment or mark file.
type journalFile interface {
	io.Writer
	Sync() error
	Truncate(size int64) error
	Close() error
}

type osFS struct{}

var _ fileSystem = osFS{}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (journalFile, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err // not a typed nil in an interface
	}
	return f, nil
}

func (osFS) Open(name string) (io.ReadCloser, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (osFS) Remove(name string) error { return os.Remove(name) }
