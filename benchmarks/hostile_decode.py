"""Time to refuse (or accept) each worst small-but-costly file of issue 18. Run from the repository root:

    PYTHONPATH=$PWD python benchmarks/hostile_decode.py [SIDE REPEATS]   (default 6000 20000)
"""
import sys, time
from tests.hostile_decode import repeated_scan_jpeg, tiny_huge_webp, scan_zip, jpeg_segments
from cnnviz.data import images, folderdata
from cnnviz.inspect import pretrained

def t(label, fn):
    t0 = time.perf_counter(); c0 = time.process_time()
    try:
        out = fn(); res = "accepted"
    except Exception as e:
        res = f"{type(e).__name__}: {str(e)[:160]}"
    print(f"{label}: wall {time.perf_counter()-t0:.2f}s cpu {time.process_time()-c0:.2f}s -> {res}", flush=True)

side, reps = (int(sys.argv[1]), int(sys.argv[2])) if len(sys.argv) > 2 else (6000, 20000)
j = repeated_scan_jpeg(side, reps)
print("jpeg bytes", len(j), "scans", len(jpeg_segments(j)))
w = tiny_huge_webp(); print("webp bytes", len(w))
t(f"load_image progressive {side}x{side} +{reps} scans", lambda: images.load_image(j, name="scans.jpg"))
t("load_image webp 6300x6300", lambda: images.load_image(w, name="w.webp"))
t("load_photos 100 webp", lambda: pretrained.load_photos([(f"{i}.webp", w) for i in range(100)]))
z = scan_zip(20, 6000, 5000); print("zip bytes", len(z))
t("read_zip 20 x 5000 scans 6000x6000", lambda: folderdata.read_zip(z, image_size=32))
