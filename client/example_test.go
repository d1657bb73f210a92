package client_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/diststore/diststore/client"
	"github.com/diststore/diststore/internal/testnode"
	"github.com/diststore/diststore/store"
)

// startNode starts a real node alone in its cluster, for an example.
func startNode() *testnode.Node {
	n, err := testnode.Start(testnode.Options{})
	if err != nil {
		log.Fatal(err)
	}
	return n
}

func Example() {
	node := startNode()
	defer node.Close()

	// Several nodes: when one cannot answer, the next one does. The first
	// here is a port nothing listens on.
	c, err := client.New(client.Config{Nodes: []string{"127.0.0.1:1", node.URL}})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()

	if _, err := c.Put(ctx, "greeting", []byte("hello")); err != nil {
		log.Fatal(err)
	}
	v, err := c.Get(ctx, "greeting")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", v.Data)

	_, err = c.Get(ctx, "no-such-key")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Output:
	// hello
	// true
}

func ExampleClient_CompareAndSwap() {
	node := startNode()
	defer node.Close()
	c, _ := client.New(client.Config{Nodes: []string{node.URL}})
	defer c.Close()
	ctx := context.Background()

	if _, err := c.Put(ctx, "counter", []byte("1")); err != nil {
		log.Fatal(err)
	}
	v, _ := c.Get(ctx, "counter")
	// Only if nobody wrote the key since v was read.
	if _, err := c.CompareAndSwap(ctx, "counter", v.ETag, []byte("2")); err != nil {
		log.Fatal(err)
	}
	// v.ETag is no longer the key's version: this one fails.
	_, err := c.CompareAndSwap(ctx, "counter", v.ETag, []byte("3"))
	fmt.Println(errors.Is(err, client.ErrConditionFailed))
	now, _ := c.Get(ctx, "counter")
	fmt.Printf("%s\n", now.Data)
	// Output:
	// true
	// 2
}

func ExampleClient_Put_ttl() {
	node := startNode()
	defer node.Close()
	c, _ := client.New(client.Config{Nodes: []string{node.URL}})
	defer c.Close()
	ctx := context.Background()

	if _, err := c.Put(ctx, "session", []byte("token"), client.WithTTL(time.Hour)); err != nil {
		log.Fatal(err)
	}
	// Only if the key does not exist yet.
	_, err := c.Put(ctx, "session", []byte("other"), client.IfAbsent())
	fmt.Println(errors.Is(err, client.ErrConditionFailed))
	v, _ := c.Get(ctx, "session")
	fmt.Println(time.Until(v.Expires).Round(time.Hour))
	// Output:
	// true
	// 1h0m0s
}

func ExampleClient_List() {
	node := startNode()
	defer node.Close()
	c, _ := client.New(client.Config{Nodes: []string{node.URL}})
	defer c.Close()
	ctx := context.Background()
	for _, k := range []string{"user/ann", "user/bob", "user/cy", "group/x"} {
		if _, err := c.Put(ctx, k, []byte("v")); err != nil {
			log.Fatal(err)
		}
	}

	// A page of two keys with a prefix, then the next page.
	p, _ := c.List(ctx, client.ListOptions{Prefix: "user/", Limit: 2})
	fmt.Println(p.Keys, p.Next)
	p, _ = c.List(ctx, client.ListOptions{Prefix: "user/", Limit: 2, After: p.Next})
	fmt.Println(p.Keys, p.Next == "")

	// Every key, the pages read as they are needed.
	for k, err := range c.Keys(ctx, "") {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(k)
	}
	// Output:
	// [user/ann user/bob] user/bob
	// [user/cy] true
	// group/x
	// user/ann
	// user/bob
	// user/cy
}

func ExampleClient_Delete() {
	node := startNode()
	defer node.Close()
	c, _ := client.New(client.Config{Nodes: []string{node.URL}})
	defer c.Close()
	ctx := context.Background()

	w, _ := c.Put(ctx, "k", []byte("v"))
	// Deleted only if the key is still the version written.
	d, err := c.Delete(ctx, "k", client.IfMatch(w.ETag))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("existed:", *d.Existed)
	_, err = c.Get(ctx, "k")
	fmt.Println(errors.Is(err, client.ErrNotFound))
	// Deleting it again succeeds, and says it was not there.
	if d, err = c.Delete(ctx, "k"); err != nil {
		log.Fatal(err)
	}
	fmt.Println("existed:", *d.Existed)
	// Output:
	// existed: true
	// true
	// existed: false
}

// A backup of one cluster restored into another: the backup is a copy of
// a master's store; store.ReadBackup checks it and reads its entries, and
// Restore sends them, in the dump format, to every master.
func ExampleClient_Restore() {
	from, to := startNode(), startNode()
	defer from.Close()
	defer to.Close()
	ctx := context.Background()
	src, _ := client.New(client.Config{Nodes: []string{from.URL}})
	defer src.Close()
	for _, k := range []string{"a", "b", "c"} {
		if _, err := src.Put(ctx, k, []byte("value of "+k)); err != nil {
			log.Fatal(err)
		}
	}

	b, err := src.OpenBackup(ctx)
	if err != nil {
		log.Fatal(err)
	}
	dir, _ := os.MkdirTemp("", "example-backup-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "backup.db")
	f, _ := os.Create(path)
	_, err = io.Copy(f, b)
	b.Close()
	f.Close()
	if err != nil {
		log.Fatal(err)
	}
	info, err := store.ReadBackup(path, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("keys in the backup:", info.Entries)

	dst, _ := client.New(client.Config{Nodes: []string{to.URL}})
	defer dst.Close()
	results, err := dst.Restore(ctx, func() (io.ReadCloser, error) {
		pr, pw := io.Pipe()
		go func() {
			bw := bufio.NewWriter(pw)
			err := store.WriteDumpHeader(bw)
			if err == nil {
				_, err = store.ReadBackup(path, func(key string, e store.Entry) error {
					return store.WriteDumpEntry(bw, key, e, true)
				})
			}
			if err == nil {
				err = store.WriteDumpEnd(bw)
			}
			if err == nil {
				err = bw.Flush()
			}
			pw.CloseWithError(err)
		}()
		return pr, nil
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("stored on the master:", results[0].Applied)
	v, _ := dst.Get(ctx, "b")
	fmt.Printf("%s\n", v.Data)
	// Output:
	// keys in the backup: 3
	// stored on the master: 3
	// value of b
}
