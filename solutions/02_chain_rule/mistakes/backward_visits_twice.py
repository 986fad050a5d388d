# story: forgets the visited set, so a node used twice is listed (and passes its gradient back) twice
# exercise: backward
# hint: order
def topological_order(root):
    order = []
    stack = [(root, False)]
    while stack:
        node, inputs_placed = stack.pop()
        if inputs_placed:
            order.append(node)
            continue
        stack.append((node, True))
        for child in node._prev:
            stack.append((child, False))
    return order


def backward(root):
    root.grad = 1.0
    for node in reversed(topological_order(root)):
        node._backward()
