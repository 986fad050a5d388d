# story: clips every layer's gradient to max_norm on its own instead of using the global norm
# exercise: clip_by_norm
# hint: known-mistake
def clip_by_norm(g, max_norm):
    def clip_one(p):
        p = np.asarray(p, dtype=float)
        norm = np.sqrt(np.sum(p * p))
        return p * (max_norm / norm) if norm > max_norm else p.copy()
    return [clip_one(p) for p in g] if isinstance(g, list) else clip_one(g)
