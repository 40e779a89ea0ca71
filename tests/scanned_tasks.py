from pyramid_tasks import task


@task(name="scanned.multiply", queue="math")
def multiply(request, x, y):
    return x * y
