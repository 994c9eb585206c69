# Raw data → the stored uint8 format (robinterp.data). Raw-data paths are
# settings, checked when the job runs, so dry-runs need no data.


rule prepare_data:
    output:
        DATA_META,
    log:
        f"{RESULTS}/logs/prepare_data/{{dataset}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/prepare_data/{{dataset}}.tsv"
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # decoding and resizing 99,000 ImageNet JPEGs; no GPU
        runtime=240,
        mem_mb=32000,
        gpu=0,
    params:
        settings=dataset_settings("prepare"),
        out_dir=DATA_DIR,
    shell:
        "python -m robinterp prepare --settings {params.settings:q} --out {params.out_dir:q}"
        " --where datasets.{wildcards.dataset}.prepare 2> {log:q}"
