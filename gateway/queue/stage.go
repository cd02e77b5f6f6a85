package queue

// Staged is a push split in two, for a producer that feeds several queues
// and must have a request in all of them or in none: Stage does what can
// fail for want of storage (a persistent queue's journal write and fsync),
// Commit makes the entries visible to workers. A producer stages in every
// queue, then commits in every queue, and aborts what it staged when one
// refuses, so a refused request (which the client will send again) is
// queued nowhere.
type Staged struct {
	q       *Queue
	entries []Entry
}

// Stage prepares reserved entries for Commit. On false the reservation is
// released (not the buffer references), as Push does, and nothing was
// kept. The caller may stage the same slice in other queues.
func (q *Queue) Stage(entries []Entry) (Staged, bool) {
	if q.j == nil {
		return Staged{q: q, entries: entries}, true
	}
	own := append([]Entry(nil), entries...)
	if err := q.j.append(own); err != nil {
		q.used.Add(-bytesOf(own))
		return Staged{}, false
	}
	return Staged{q: q, entries: own}, true
}

// Commit queues staged entries for the workers. It reports false, with
// the reservation released and a persistent queue's records marked given
// up, only if the queue was closed since Stage.
func (s Staged) Commit() bool {
	if s.q.enqueue(s.entries) {
		return true
	}
	if s.q.j != nil {
		s.q.j.ack(s.entries)
	}
	return false
}

// Abort gives staged entries up: their reservation is released and a
// persistent queue marks their records so no later run replays them.
func (s Staged) Abort() {
	if s.q.j != nil {
		s.q.j.ack(s.entries)
	}
	s.q.used.Add(-bytesOf(s.entries))
}

// Closed reports whether Close was called: Push and Commit will refuse.
func (q *Queue) Closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}
