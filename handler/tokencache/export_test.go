package tokencache

// RowKeys is where k's row lives for a cache whose first key is first, so
// tests can look at it or tamper with it.
func RowKeys(k Key, first []byte) (partitionKey, rowKey string) {
	e, err := k.canonical(newSessionHasher(storeSessionKey(first)))
	if err != nil {
		panic(err)
	}
	return e.rowKeys()
}

// Limits on a cached token's scope list.
const (
	MaxTokenScopes     = maxTokenScopes
	MaxTokenScopeBytes = maxTokenScopeBytes
)

// MemoryLen is the number of entries in c's memory level, expired ones
// included until they are touched, evicted or swept.
func (c *Cache) MemoryLen() int { return c.mem.Len() }
