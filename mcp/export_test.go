package mcp

// Spaces returns how many namespaces' servers the handler holds.
func (h *Handler) Spaces() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.spaces)
}
