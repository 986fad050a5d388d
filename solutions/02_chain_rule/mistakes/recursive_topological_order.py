# story: orders the graph with a recursive depth-first search, which runs out of stack on a deep chain
# exercise: backward
# hint: recursion
# costs: 2
def topological_order(root):
    order, visited = [], set()
    def visit(node):
        if node in visited:
            return
        visited.add(node)
        for child in node._prev:
            visit(child)
        order.append(node)
    visit(root)
    return order


def backward(root):
    root.grad = 1.0
    for node in reversed(topological_order(root)):
        node._backward()
