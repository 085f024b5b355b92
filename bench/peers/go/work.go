package main

import (
	"context"
	"io"
	"strconv"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/singleflight"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "pieces-go/gen/pieces/v1"
)

// workServer serves pieces.v1.WorkService: Process sessions that share one
// cache, so that a key is computed once however many units ask for it.
type workServer struct {
	pb.UnimplementedWorkServiceServer

	work        workFunc
	maxInFlight int // unanswered units per session before it stops reading

	cache   sync.Map           // key → value (both uint64); failures are not stored
	flight  singleflight.Group // computations in progress, by key
	entries atomic.Uint64      // keys in cache (sync.Map has no Len)

	sessionsActive atomic.Int64
	sessionsTotal  atomic.Uint64
	workReceived   atomic.Uint64
	computed       atomic.Uint64
	fromCache      atomic.Uint64
	waited         atomic.Uint64
	failed         atomic.Uint64
	inFlight       atomic.Int64
}

func newWorkServer(work workFunc, maxInFlight int) *workServer {
	return &workServer{work: work, maxInFlight: maxInFlight}
}

func (s *workServer) GetStats(context.Context, *pb.GetStatsRequest) (*pb.Stats, error) {
	// threads, cancelled, cache_evictions, cache_capacity and
	// sessions_refused stay 0: there is no pool, units are never dropped
	// before they run, and the cache and the sessions have no bound.
	return &pb.Stats{
		SessionsActive: uint64(s.sessionsActive.Load()),
		SessionsTotal:  s.sessionsTotal.Load(),
		WorkReceived:   s.workReceived.Load(),
		Computed:       s.computed.Load(),
		FromCache:      s.fromCache.Load(),
		Waited:         s.waited.Load(),
		Failed:         s.failed.Load(),
		InFlight:       uint64(s.inFlight.Load()),
		CacheEntries:   s.entries.Load(),
	}, nil
}

// cached answers w from the cache if its key is there.
func (s *workServer) cached(w *pb.Work) (*pb.Result, bool) {
	v, ok := s.cache.Load(w.Key)
	if !ok {
		return nil, false
	}
	s.fromCache.Add(1)
	return &pb.Result{Id: w.Id, Key: w.Key, Value: v.(uint64), Performed: pb.Performed_PERFORMED_FROM_CACHE}, true
}

// compute answers w by computing its key, or by waiting for the unit that is
// computing it already. It blocks for as long as the work takes.
func (s *workServer) compute(w *pb.Work) *pb.Result {
	ran, computedHere := false, false
	v, err, _ := s.flight.Do(strconv.FormatUint(w.Key, 10), func() (any, error) {
		ran = true
		// Another flight may have filled the cache between our miss and now.
		if v, ok := s.cache.Load(w.Key); ok {
			return v, nil
		}
		computedHere = true
		v, err := s.work(w.Key)
		if err != nil {
			return nil, err
		}
		if _, loaded := s.cache.LoadOrStore(w.Key, v); !loaded {
			s.entries.Add(1)
		}
		return v, nil
	})
	r := &pb.Result{Id: w.Id, Key: w.Key}
	switch {
	case err != nil:
		s.failed.Add(1)
		st := status.Convert(err)
		r.Error = &pb.Error{Code: int32(st.Code()), Message: st.Message()}
		return r
	case computedHere:
		s.computed.Add(1)
		r.Performed = pb.Performed_PERFORMED_NEW
	default:
		s.fromCache.Add(1)
		r.Performed = pb.Performed_PERFORMED_FROM_CACHE
		if !ran {
			s.waited.Add(1)
			r.Waited = true
		}
	}
	r.Value = v.(uint64)
	return r
}

// Process runs one session: a reader goroutine takes WorkMsgs and starts
// their units; this goroutine writes the results as they come, then Exited.
func (s *workServer) Process(stream pb.WorkService_ProcessServer) error {
	s.sessionsTotal.Add(1)
	s.sessionsActive.Add(1)
	defer s.sessionsActive.Add(-1)

	ss := &session{
		server:   s,
		stream:   stream,
		ids:      make(map[uint64]struct{}),
		slots:    make(chan struct{}, s.maxInFlight),
		results:  make(chan *pb.Result, s.maxInFlight),
		exit:     make(chan int64, 1),
		readErr:  make(chan error, 1),
		readDone: make(chan struct{}),
	}
	go func() { ss.readErr <- ss.read() }()
	err := ss.write()
	// Units received but never written (the session ended first) leave
	// in_flight once the reader has stopped; it stops when the call ends.
	go func() {
		<-ss.readDone
		s.inFlight.Add(ss.written - ss.received)
	}()
	return err
}

// session is one Process call.
type session struct {
	server *workServer
	stream pb.WorkService_ProcessServer

	// A unit holds a slot from when it is read until its result is written,
	// so results never has to block and the reader stops at maxInFlight.
	slots   chan struct{}
	results chan *pb.Result
	batched atomic.Bool // the client has sent a WorkBatch: answer in ResultBatch

	exit     chan int64    // units received before Exit (or half-close), sent once
	readErr  chan error    // why the reader stopped; nil for a half-close
	readDone chan struct{} // closed when the reader has stopped

	// Owned by the reader.
	ids      map[uint64]struct{}
	received int64
	// Owned by the writer.
	written int64
}

func (ss *session) read() error {
	defer close(ss.readDone)
	exited := false
	for {
		msg, err := ss.stream.Recv()
		if err == io.EOF {
			if !exited {
				ss.exit <- ss.received
			}
			return nil
		}
		if err != nil {
			return err
		}
		switch m := msg.Msg.(type) {
		case *pb.WorkMsg_Work:
			if err := ss.start(m.Work, exited); err != nil {
				return err
			}
		case *pb.WorkMsg_Batch:
			if len(m.Batch.Works) == 0 {
				return status.Error(codes.InvalidArgument, "a WorkBatch must carry at least one Work")
			}
			ss.batched.Store(true)
			for _, w := range m.Batch.Works {
				if err := ss.start(w, exited); err != nil {
					return err
				}
			}
		case *pb.WorkMsg_Exit:
			if exited {
				return status.Error(codes.FailedPrecondition, "a second Exit in one session")
			}
			exited = true
			ss.exit <- ss.received
		default:
			return status.Error(codes.InvalidArgument,
				"a WorkMsg must set exactly one of 'work', 'batch' or 'exit'; this one set none")
		}
	}
}

// start answers w from the cache at once, or computes it on a goroutine of
// its own.
func (ss *session) start(w *pb.Work, exited bool) error {
	if exited {
		return status.Errorf(codes.FailedPrecondition,
			"Work id=%d arrived after Exit; a session takes no work after its Exit", w.Id)
	}
	if _, dup := ss.ids[w.Id]; dup {
		return status.Errorf(codes.InvalidArgument,
			"Work id=%d was already used in this session; ids must be unique within a session", w.Id)
	}
	ss.ids[w.Id] = struct{}{}
	select {
	case ss.slots <- struct{}{}:
	case <-ss.stream.Context().Done():
		return ss.stream.Context().Err()
	}
	ss.received++
	s := ss.server
	s.workReceived.Add(1)
	s.inFlight.Add(1)
	if r, ok := s.cached(w); ok {
		ss.results <- r
		return nil
	}
	go func() { ss.results <- s.compute(w) }()
	return nil
}

// write sends results as they are ready, then Exited once every unit
// received before Exit has been answered.
func (ss *session) write() error {
	ctx := ss.stream.Context()
	readErr := ss.readErr
	total := int64(-1) // units to answer; known at Exit
	for total < 0 || ss.written < total {
		select {
		case r := <-ss.results:
			if err := ss.send(r); err != nil {
				return err
			}
		case n := <-ss.exit:
			total = n
		case err := <-readErr:
			if err != nil {
				return err
			}
			readErr = nil // a half-close; ss.exit says how many units came
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
	return ss.stream.Send(&pb.ResultMsg{Msg: &pb.ResultMsg_Exited{Exited: &pb.Exited{Completed: uint64(total)}}})
}

// send writes r and, for a batched session, whatever other results are
// ready, in one ResultBatch.
func (ss *session) send(r *pb.Result) error {
	batch := []*pb.Result{r}
	var msg *pb.ResultMsg
	if ss.batched.Load() {
	drain:
		for {
			select {
			case more := <-ss.results:
				batch = append(batch, more)
			default:
				break drain
			}
		}
		msg = &pb.ResultMsg{Msg: &pb.ResultMsg_Batch{Batch: &pb.ResultBatch{Results: batch}}}
	} else {
		msg = &pb.ResultMsg{Msg: &pb.ResultMsg_Result{Result: r}}
	}
	if err := ss.stream.Send(msg); err != nil {
		return err
	}
	n := int64(len(batch))
	ss.written += n
	ss.server.inFlight.Add(-n)
	for range n {
		<-ss.slots
	}
	return nil
}
