package queue

import "github.com/otlpgw/otlpgw/gateway/internal/faultfs"

// fileSystem is the few file operations the journal uses (creating,
// writing, syncing, truncating and deleting segment and mark files, and
// reading earlier instances' files for replay): Options.FS, a seam for
// tests, which inject ENOSPC, EIO and EACCES (faultfs.Faulty); the gateway
// uses the real one.
type fileSystem = faultfs.FS

// journalFile is an open segment or mark file.
type journalFile = faultfs.File

type osFS = faultfs.OS
