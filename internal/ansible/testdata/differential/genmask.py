# Random results and no_log values: python3 genmask.py SEED COUNT
import json, random, sys
random.seed(int(sys.argv[1])); N = int(sys.argv[2])
words = ["s3cr3t", "x-s3cr3t-y", "1", "12", "123", "0", "True", "False", "None", "on", "one", "a", "", "1.5", "2.0", "é"]
def val(d=0):
    r = random.random()
    if d < 3 and r < 0.2:
        return [val(d + 1) for _ in range(random.randint(0, 3))]
    if d < 3 and r < 0.35:
        return {random.choice(["k", "s3cr3t", "1"]): val(d + 1) for _ in range(random.randint(0, 3))}
    return random.choice(words + [1, 12, 123, 0, 1.5, 2.0, 0.5, True, False, None])
for _ in range(N):
    secrets = sorted(set(random.sample(["s3cr3t", "1", "12", "2", "True", "on", "one", "5", "é", "ne"], random.randint(1, 3))), key=len, reverse=True)
    print(json.dumps([val(), secrets]))
