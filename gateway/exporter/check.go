package exporter

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/otlpgw/otlpgw/gateway/config"
)

// CheckConfig reports what New would refuse in cfg beyond config.Validate: TLS
// files that do not load, a file exporter's path that cannot be appended
// to, a persistent queue directory (set.PersistentDir) that cannot be
// written. It leaves nothing behind on disk (a missing file or directory
// is not created) and connects nowhere, so validate can run it anywhere.
// Messages start with the key they are about, below the exporter ("tls.ca_file: ...")
// or at the top ("queue.persistent.directory: ...").
func CheckConfig(cfg config.Exporter, set Settings) error {
	var errs []error
	switch cfg.Type {
	case "otlp", "otlphttp":
		if _, err := clientTLS(cfg.TLS); err != nil {
			errs = append(errs, err)
		}
	case "file":
		if err := checkAppendable(cfg.Path); err != nil {
			errs = append(errs, err)
		}
	}
	if set.PersistentDir != "" {
		if err := checkWritableDir("queue.persistent.directory", filepath.Join(set.PersistentDir, cfg.Name), true); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkAppendable reports whether path can be opened for appending, as
// newFileSender will: an existing file must open for writing, a missing
// one needs a directory it can be created in.
func checkAppendable(path string) error {
	if path == "" {
		return errors.New("path: must be set for the file exporter")
	}
	if fi, err := os.Stat(path); err == nil {
		if fi.IsDir() {
			return fmt.Errorf("path: %s is a directory", path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return fmt.Errorf("path: %w", err)
		}
		return f.Close()
	}
	return checkWritableDir("path", filepath.Dir(path), false)
}

// checkWritableDir reports whether files can be created in dir, key
// naming it in the message. With mkdir, a missing dir is fine when its
// nearest existing parent is writable (the caller creates it). The probe
// file it writes is removed at once.
func checkWritableDir(key, dir string, mkdir bool) error {
	d := dir
	for {
		fi, err := os.Stat(d)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("%s: %s is not a directory", key, d)
			}
			break
		}
		if !errors.Is(err, os.ErrNotExist) || !mkdir {
			return fmt.Errorf("%s: %w", key, unwrapPath(err))
		}
		parent := filepath.Dir(d)
		if parent == d {
			return fmt.Errorf("%s: %w", key, err)
		}
		d = parent
	}
	f, err := os.CreateTemp(d, ".otlpgw-check-*")
	if err != nil {
		return fmt.Errorf("%s: cannot create files in %s: %w", key, d, unwrapPath(err))
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %w", pe.Path, pe.Err)
	}
	return err
}
