package objects

// SetBeforeCommit installs a hook that runs between durable chunks and the
// catalog commit, so tests can crash a writer at that moment.
func SetBeforeCommit(l *Layer, f func()) { l.beforeCommit = f }
