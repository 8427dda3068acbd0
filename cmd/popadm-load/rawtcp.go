package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// copyBufSize is the buffer of the baseline sender, like cat's.
const copyBufSize = 128 << 10

// runRawTCP is the baseline for RETR: an in-process loopback server sends
// the bytes of -file (read from the file for every request through a
// plain read/write loop, as `cat file | nc` would, without sendfile) or
// -bytes bytes from memory, and c clients request and read them through a
// buffered reader, over and over on one connection each. Throughput is in
// MB/s with MB = 10^6 bytes.
func runRawTCP(ctx context.Context, e *env, args []string) error {
	var lf loadFlags
	fs := newFlagSet(e, "rawtcp")
	lf.register(fs, e, "c", "duration", "max", "timeout")
	file := fs.String("file", "", "file whose bytes are sent for each request")
	size := fs.Int64("bytes", 0, "bytes sent for each request when no -file is given")
	fs.Lookup("max").Usage = "cap on the number of transfers"
	setDefault(fs, "duration", "5s")
	if err := parseFlags(fs, args); err != nil {
		return helpOK(err)
	}
	if err := lf.check(fs); err != nil {
		return err
	}
	if (*file == "") == (*size <= 0) {
		return fmt.Errorf("%w: give -file or a positive -bytes", errUsage)
	}
	n := *size
	var src func(io.Writer) error
	if *file != "" {
		st, err := os.Stat(*file)
		if err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		n = st.Size()
		src = func(w io.Writer) error { return copyFile(w, *file) }
	} else {
		if n > 1<<30 {
			return fmt.Errorf("%w: -bytes is at most 1 GiB", errUsage)
		}
		block := make([]byte, min(n, copyBufSize))
		for i := range block {
			block[i] = byte('a' + i%26)
		}
		src = func(w io.Writer) error {
			for left := n; left > 0; {
				k := min(left, int64(len(block)))
				if _, err := w.Write(block[:k]); err != nil {
					return err
				}
				left -= k
			}
			return nil
		}
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	var srvWG sync.WaitGroup
	srvWG.Add(1)
	go func() {
		defer srvWG.Done()
		serveRaw(ln, src, lf.timeout)
	}()

	var total, transfers atomic.Int64
	var errs errorLog
	b := newBudget(ctx, lf.max, lf.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < lf.c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := rawClient(ln.Addr().String(), n, lf.timeout, b, &total, &transfers); err != nil {
				errs.add(err)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	ln.Close()
	srvWG.Wait()

	mbps := float64(total.Load()) / 1e6 / elapsed.Seconds()
	r := result{
		"c":              lf.c,
		"bytes_per_xfer": n,
		"transfers":      transfers.Load(),
		"bytes":          total.Load(),
		"elapsed_s":      round3(elapsed.Seconds()),
		"mb_per_s":       round3(mbps),
		"errors":         errs.count(),
		"mb_is_10_pow_6": true,
	}
	human := fmt.Sprintf("c=%d %.1f MB/s (MB = 10^6 B), %d transfers of %d bytes in %.2fs", lf.c, mbps, transfers.Load(), n, elapsed.Seconds())
	if f := errs.firstText(); f != "" {
		r["first_error"] = f
		human += " (" + f + ")"
	}
	return emit(e, "rawtcp", lf.label, errs.count() == 0 && transfers.Load() > 0, r, human)
}

// copyFile copies the file at path to w with a plain read/write loop.
func copyFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, copyBufSize)
	for {
		k, err := f.Read(buf)
		if k > 0 {
			if _, werr := w.Write(buf[:k]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// serveRaw accepts connections until ln is closed; on each, every request
// line is answered with the bytes of src.
func serveRaw(ln net.Listener, src func(io.Writer) error, timeout time.Duration) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			r := bufio.NewReader(c)
			for {
				_ = c.SetDeadline(time.Now().Add(timeout))
				if _, err := r.ReadString('\n'); err != nil {
					return
				}
				if err := src(c); err != nil {
					return
				}
			}
		}()
	}
}

// rawClient requests transfers of n bytes on one connection while the
// budget allows and reads them through a buffered reader.
func rawClient(addr string, n int64, timeout time.Duration, b *budget, total, transfers *atomic.Int64) error {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer c.Close()
	r := bufio.NewReaderSize(c, readBufSize)
	scratch := make([]byte, readBufSize)
	for b.take() {
		_ = c.SetDeadline(time.Now().Add(timeout))
		if _, err := io.WriteString(c, "G\n"); err != nil {
			return err
		}
		for left := n; left > 0; {
			k, err := r.Read(scratch[:min(left, int64(len(scratch)))])
			left -= int64(k)
			total.Add(int64(k))
			if err != nil {
				return fmt.Errorf("read: %w", err)
			}
		}
		transfers.Add(1)
	}
	return nil
}
