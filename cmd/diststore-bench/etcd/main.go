// Command diststore-bench-etcd loads an etcd cluster the way
// diststore-bench loads a diststore cluster, so that make bench can show
// durable writes of the two side by side: a closed loop (package
// internal/loadgen, shared with diststore-bench) of --conns concurrent
// Puts of unique keys PREFIX0, PREFIX1, ... with --value-size-byte
// values, for --duration, printed as the same JSON object.
//
// It is a module of its own, so that the etcd client and its
// dependencies stay out of the product's go.mod. It is a developer tool
// for make bench, not part of the Debian package.
//
//	diststore-bench-etcd [--conns 64] [--duration 5s] [--clients N] [--json] ENDPOINT...
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/diststore/diststore/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "diststore-bench-etcd: %v\n", err)
		os.Exit(2)
	}
}

// result is what the tool prints: the fields of diststore-bench's.
type result struct {
	Op        string   `json:"op"`
	Endpoints []string `json:"urls"`
	Conns     int      `json:"conns"`
	Clients   int      `json:"clients"`
	loadgen.Result
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("diststore-bench-etcd", flag.ContinueOnError)
	conns := fs.Int("conns", 64, "concurrent Puts")
	clients := fs.Int("clients", 0, "etcd clients (gRPC connections) the Puts share; 0: one per 16 conns")
	duration := fs.Duration("duration", 5*time.Second, "stop after `DURATION`")
	prefix := fs.String("prefix", "w-", "`PREFIX` of every key")
	valueSize := fs.Int("value-size", 100, "bytes of each value")
	timeout := fs.Duration("timeout", 10*time.Second, "give up on a Put after `DURATION`")
	asJSON := fs.Bool("json", false, "print the result as one JSON object")
	if err := fs.Parse(args); err != nil {
		return err
	}
	endpoints := fs.Args()
	switch {
	case len(endpoints) == 0:
		return errors.New("no endpoint: name the cluster's client URLs, e.g. http://127.0.3.1:2379")
	case *conns < 1 || *valueSize < 0 || *duration <= 0 || *timeout <= 0 || *clients < 0:
		return errors.New("--conns, --duration and --timeout must be positive, --value-size and --clients not negative")
	}
	if *clients == 0 {
		*clients = (*conns + 15) / 16
	}
	cs := make([]*clientv3.Client, *clients)
	for i := range cs {
		c, err := clientv3.New(clientv3.Config{
			Endpoints:   endpoints,
			DialTimeout: 5 * time.Second,
			Logger:      zap.NewNop(),
		})
		if err != nil {
			return fmt.Errorf("etcd client: %w", err)
		}
		defer c.Close()
		cs[i] = c
	}
	// Wait for a leader: the first Put of a fresh cluster may see none.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	for {
		_, err := cs[0].Put(wctx, *prefix+"warmup", "x")
		if err == nil {
			break
		}
		if wctx.Err() != nil {
			cancel()
			return fmt.Errorf("etcd at %s never took a Put: %w", strings.Join(endpoints, ","), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()

	value := strings.Repeat("v", *valueSize)
	res := loadgen.Run(ctx, loadgen.Config{Conns: *conns, Duration: *duration}, func(ctx context.Context, conn int, n int64) string {
		c := cs[conn%len(cs)]
		pctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		_, err := c.Put(pctx, *prefix+strconv.FormatInt(n, 10), value)
		if err == nil {
			return ""
		}
		if s, ok := status.FromError(rpctypes.Error(err)); ok && s.Code() != codes.Unknown {
			return s.Code().String()
		}
		return "transport"
	})
	if err := ctx.Err(); err != nil {
		return err
	}
	out := result{Op: "put", Endpoints: endpoints, Conns: *conns, Clients: *clients, Result: res}
	if *asJSON {
		b, err := json.Marshal(out)
		if err != nil {
			return err
		}
		fmt.Println(string(b))
		return nil
	}
	fmt.Printf("etcd put: %d conns, %d clients, %d requests in %.2fs, %d ok, %.0f req/s\n",
		out.Conns, out.Clients, res.Requests, res.Seconds, res.OK, res.ReqPerSec)
	fmt.Printf("latency: mean %.3fms  p50 %.3fms  p90 %.3fms  p99 %.3fms  max %.3fms\n",
		res.MeanMs, res.P50Ms, res.P90Ms, res.P99Ms, res.MaxMs)
	return nil
}
