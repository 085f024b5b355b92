// pieces-go is the Go peer of pieces' two services, for the benchmark: the
// same contract (proto/pieces/v1) written the way a Go team would, with
// grpc-go, a sync.Map cache and x/sync/singleflight.
//
//	pieces-go work --port=50052 --work=echo
//	pieces-go main --port=50051 --work_address=localhost:50052
//
// Each prints "<name> listening on 0.0.0.0:<port>" to stderr once it serves,
// and on SIGTERM or SIGINT stops taking calls, lets the calls in progress end
// (for up to --grace_period) and exits 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	pb "pieces-go/gen/pieces/v1"
)

const usage = `usage:
  pieces-go work [--port=50052] [--work=echo|sleep:DURATION|cpu:N] [--max_in_flight=1024] [--grace_period=10s]
  pieces-go main [--port=50051] [--work_address=localhost:50052] [--max_keys=100000] [--grace_period=10s]
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "work":
		err = runWork(os.Args[2:])
	case "main":
		err = runMain(os.Args[2:])
	default:
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "pieces-go %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func runWork(args []string) error {
	flags := flag.NewFlagSet("pieces-go work", flag.ExitOnError)
	port := flags.Int("port", 50052, "TCP port to listen on, on all interfaces; 0 picks a free one")
	work := flags.String("work", "echo", "The work per key: echo, sleep:DURATION or cpu:N")
	maxInFlight := flags.Int("max_in_flight", 1024, "Unanswered units of a session before it stops reading it")
	grace := flags.Duration("grace_period", 10*time.Second, "How long calls in progress may take to end on SIGTERM")
	flags.Parse(args)
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}
	fn, err := parseWork(*work)
	if err != nil {
		return err
	}
	if *maxInFlight < 1 {
		return fmt.Errorf("--max_in_flight=%d: must be at least 1", *maxInFlight)
	}
	server := grpc.NewServer()
	pb.RegisterWorkServiceServer(server, newWorkServer(fn, *maxInFlight))
	return serve("pieces-go-work", server, *port, *grace)
}

func runMain(args []string) error {
	flags := flag.NewFlagSet("pieces-go main", flag.ExitOnError)
	port := flags.Int("port", 50051, "TCP port to listen on, on all interfaces; 0 picks a free one")
	workAddress := flags.String("work_address", "localhost:50052", "The work service, host:port")
	maxKeys := flags.Int("max_keys", 100000, "The most keys one Run or RunStream request may carry")
	grace := flags.Duration("grace_period", 10*time.Second, "How long calls in progress may take to end on SIGTERM")
	flags.Parse(args)
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", flags.Arg(0))
	}
	conn, err := grpc.NewClient(*workAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("--work_address=%s: %w", *workAddress, err)
	}
	defer conn.Close()
	server := grpc.NewServer()
	pb.RegisterMainServiceServer(server, &mainServer{
		work:        pb.NewWorkServiceClient(conn),
		workAddress: *workAddress,
		maxKeys:     *maxKeys,
	})
	return serve("pieces-go-main", server, *port, *grace)
}

// serve adds health and reflection to server, serves it on port until
// SIGTERM or SIGINT, then stops it gracefully within grace.
func serve(name string, server *grpc.Server, port int, grace time.Duration) error {
	healthServer := health.NewServer()
	for service := range server.GetServiceInfo() {
		healthServer.SetServingStatus(service, healthpb.HealthCheckResponse_SERVING)
	}
	healthpb.RegisterHealthServer(server, healthServer)
	reflection.Register(server)

	listener, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		return fmt.Errorf("cannot listen on port %d: %w", port, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	fmt.Fprintf(os.Stderr, "%s listening on 0.0.0.0:%d\n", name, listener.Addr().(*net.TCPAddr).Port)

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintf(os.Stderr, "%s: stopping, letting calls end for up to %s\n", name, grace)
	healthServer.Shutdown()
	stopped := make(chan struct{})
	go func() {
		server.GracefulStop()
		close(stopped)
	}()
	select {
	case <-stopped:
	case <-time.After(grace):
		server.Stop()
	}
	return nil
}
