package queue

import "github.com/otlpgw/otlpgw/gateway/internal/faultfs"

// fileSystem is the few file operations the journal's write path uses
// (creating, writing, syncing, truncating and deleting segment and mark
// files): Options.FS, a seam for tests, which inject ENOSPC and EIO
// (faultfs.Faulty); the gateway uses the real one. Recovery reads with
// package os directly: a read fault there is a damaged segment, which
// recovery already survives.
type fileSystem = faultfs.FS

// journalFile is an open segment or mark file.
type journalFile = faultfs.File

type osFS = faultfs.OS
