package queue

import (
	"io"
	"os"
)

// fileSystem is the few file operations the journal's write path uses:
// creating segment and mark files, writing, syncing and truncating them,
// deleting them. It is a seam for tests, which inject ENOSPC and EIO
// (see faultFS in fs_test.go); the gateway uses osFS. Recovery reads with
// package os directly: a read fault there is a damaged segment, which
// recovery already survives.
type fileSystem interface {
	OpenFile(name string, flag int, perm os.FileMode) (journalFile, error)
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

func (osFS) Remove(name string) error { return os.Remove(name) }
