package pipeline

import (
	"encoding/json"

	"github.com/segmentio/kafka-go"

	"github.com/unpair/unpair/processor/decision"
)

// HeaderEventID carries decision.Event.ID on decision messages, so a
// consumer can drop duplicates without parsing the value.
const HeaderEventID = "unpair-event-id"

// eventMessage is the decisions-topic message of e: keyed by learner key,
// the JSON of the event as value.
func eventMessage(topic string, e *decision.Event) (kafka.Message, error) {
	v, err := json.Marshal(e)
	if err != nil {
		return kafka.Message{}, err
	}
	return kafka.Message{
		Topic:   topic,
		Key:     []byte(e.Learner),
		Value:   v,
		Headers: []kafka.Header{{Key: HeaderEventID, Value: []byte(e.ID)}},
	}, nil
}
