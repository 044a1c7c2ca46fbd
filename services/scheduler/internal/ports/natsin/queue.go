package natsin

import (
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/phantom-run/phantom/contracts/rpc"
	"github.com/phantom-run/phantom/contracts/subjects"
)

// QueueReader describes the queue.
type QueueReader interface {
	Queue(req rpc.SchedulerQueueRequest) rpc.SchedulerQueueReply
}

// QueueGroup is the queue group of the schedulers answering
// phantom.rpc.scheduler.queue (only the active one subscribes).
const QueueGroup = "scheduler"

// ServeQueue answers phantom.rpc.scheduler.queue until the subscription is
// drained. A request that does not decode gets an answer with Error set.
func ServeQueue(nc *nats.Conn, q QueueReader, log *slog.Logger) (*nats.Subscription, error) {
	sub, err := nc.QueueSubscribe(subjects.SchedulerQueue, QueueGroup, func(m *nats.Msg) {
		var req rpc.SchedulerQueueRequest
		var reply rpc.SchedulerQueueReply
		if len(m.Data) > 0 {
			if err := json.Unmarshal(m.Data, &req); err != nil {
				reply.Error = fmt.Sprintf("could not decode the request: %v", err)
			}
		}
		if reply.Error == "" {
			reply = q.Queue(req)
		}
		data, err := json.Marshal(reply)
		if err != nil {
			log.Error("could not encode the queue", "error", err)
			return
		}
		if err := m.Respond(data); err != nil {
			log.Warn("could not answer a queue request", "error", err)
		}
	})
	if err != nil {
		return nil, fmt.Errorf("could not serve %s: %w", subjects.SchedulerQueue, err)
	}
	return sub, nil
}
