package main

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "pieces-go/gen/pieces/v1"
)

// batchSize is how many units go in one WorkBatch, as main_service sends them.
const batchSize = 512

// mainServer serves pieces.v1.MainService against one work service: each
// Run or RunStream opens one Process session to it.
type mainServer struct {
	pb.UnimplementedMainServiceServer

	work        pb.WorkServiceClient
	workAddress string // for error messages
	maxKeys     int
}

func (m *mainServer) Run(ctx context.Context, req *pb.RunRequest) (*pb.RunReply, error) {
	if err := m.validate(req); err != nil {
		return nil, err
	}
	results := make([]*pb.Result, len(req.Keys))
	err := m.process(ctx, req.Keys, func(r *pb.Result) error {
		results[r.Id] = r
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &pb.RunReply{Results: results, Completed: uint64(len(results))}, nil
}

func (m *mainServer) RunStream(req *pb.RunRequest, stream pb.MainService_RunStreamServer) error {
	if err := m.validate(req); err != nil {
		return err
	}
	err := m.process(stream.Context(), req.Keys, func(r *pb.Result) error {
		return stream.Send(&pb.ResultMsg{Msg: &pb.ResultMsg_Result{Result: r}})
	})
	if err != nil {
		return err
	}
	return stream.Send(&pb.ResultMsg{Msg: &pb.ResultMsg_Exited{Exited: &pb.Exited{Completed: uint64(len(req.Keys))}}})
}

func (m *mainServer) GetClusterStats(context.Context, *pb.GetClusterStatsRequest) (*pb.ClusterStats, error) {
	return nil, status.Error(codes.Unimplemented,
		"pieces-go main does not implement GetClusterStats; call GetStats on the work service")
}

func (m *mainServer) validate(req *pb.RunRequest) error {
	if len(req.Keys) == 0 {
		return status.Error(codes.InvalidArgument, "'keys' is empty; give at least one key to run")
	}
	if len(req.Keys) > m.maxKeys {
		return status.Errorf(codes.InvalidArgument,
			"'keys' has %d keys; this service takes at most %d per request (--max_keys)", len(req.Keys), m.maxKeys)
	}
	return nil
}

// process runs keys on one Process session, unit i being Work{Id: i, Key:
// keys[i]}. It calls onResult once per unit, on this goroutine, in completion
// order, and returns nil once the work service has answered every unit and
// ended the session.
func (m *mainServer) process(ctx context.Context, keys []uint64, onResult func(*pb.Result) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // on an early return, ends the session and the sender
	stream, err := m.work.Process(ctx)
	if err != nil {
		return m.workError(err)
	}
	go sendKeys(stream, keys)

	answered := make([]bool, len(keys))
	count := 0
	accept := func(r *pb.Result) error {
		if r.Id >= uint64(len(keys)) || answered[r.Id] {
			return status.Errorf(codes.Internal, "the work service at %s answered unit %d, which is unknown or already answered", m.workAddress, r.Id)
		}
		answered[r.Id] = true
		count++
		return onResult(r)
	}
	exited := false
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			if !exited {
				return status.Errorf(codes.Internal, "the work service at %s ended the session without Exited", m.workAddress)
			}
			return nil
		}
		if err != nil {
			return m.workError(err)
		}
		switch msg := msg.Msg.(type) {
		case *pb.ResultMsg_Result:
			err = accept(msg.Result)
		case *pb.ResultMsg_Batch:
			for _, r := range msg.Batch.Results {
				if err = accept(r); err != nil {
					break
				}
			}
		case *pb.ResultMsg_Exited:
			if count != len(keys) {
				err = status.Errorf(codes.Internal, "the work service at %s ended the session with %d of %d units answered", m.workAddress, count, len(keys))
			}
			exited = true
		}
		if err != nil {
			return err
		}
	}
}

// sendKeys sends the units in WorkBatches of batchSize, then Exit. A failed
// send ends it; the receiver learns why from Recv.
func sendKeys(stream pb.WorkService_ProcessClient, keys []uint64) {
	for start := 0; start < len(keys); start += batchSize {
		end := min(start+batchSize, len(keys))
		works := make([]*pb.Work, 0, end-start)
		for i := start; i < end; i++ {
			works = append(works, &pb.Work{Id: uint64(i), Key: keys[i]})
		}
		if err := stream.Send(&pb.WorkMsg{Msg: &pb.WorkMsg_Batch{Batch: &pb.WorkBatch{Works: works}}}); err != nil {
			return
		}
	}
	if err := stream.Send(&pb.WorkMsg{Msg: &pb.WorkMsg_Exit{Exit: &pb.Exit{}}}); err != nil {
		return
	}
	stream.CloseSend()
}

// workError is the status a caller gets when the session to the work
// service failed: the same code, naming the work service.
func (m *mainServer) workError(err error) error {
	st := status.Convert(err)
	return status.Error(st.Code(), fmt.Sprintf("work service at %s: %s", m.workAddress, st.Message()))
}
