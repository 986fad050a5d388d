# story: waits for more than `patience` epochs without progress, so training stops one epoch late
# exercise: early_stopping
# hint: known-mistake
def early_stopping(val_losses, patience):
    best = 0
    for epoch, loss in enumerate(val_losses):
        if loss < val_losses[best]:
            best = epoch
        if epoch - best > patience:
            return best, epoch
    return best, len(val_losses) - 1
