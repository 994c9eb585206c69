# Accuracy under attack (robinterp.attacks): clean and adversarial test accuracy → Tables 1
# and 4, and every method's robustness curves (accuracy against ε).


rule evaluate_model:
    input:
        data=DATA_META,
        model=MODEL,
    output:
        EVAL_JSON,
    log:
        f"{RESULTS}/logs/evaluate_model/{REPLICATE}.log",
    benchmark:
        f"{RESULTS}/benchmarks/evaluate_model/{REPLICATE}.tsv"
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # PGD-20 over the whole test set
        runtime=240,
        mem_mb=32000,
        gpu=job_gpus,
    params:
        model=dataset_settings("model"),
        settings=dataset_settings("evaluation"),
        seed=config["seed"],
        device=config["device"],
    shell:
        "python -m robinterp evaluate --data {input.data:q} --model {input.model:q}"
        " --model-settings {params.model:q} --settings {params.settings:q} --seed {params.seed}"
        " --device {params.device} --threads {threads} --out {output:q}"
        " --where datasets.{wildcards.dataset}.evaluation 2> {log:q}"


rule accuracy_table:
    input:
        unpack(get_accuracy_metrics),
    output:
        report(ACCURACY_TABLE, category="Tables"),
    log:
        f"{RESULTS}/logs/accuracy_table/{{table}}.log",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        dataset=accuracy_table_dataset,
        metrics=input_name_paths,
        keep=accuracy_table_metrics,
        run=accuracy_table_run_settings,
    shell:
        "python -m robinterp table --dataset {params.dataset} --metrics {params.metrics}"
        " --keep {params.keep} --run-settings {params.run:q} --out {output:q} 2> {log:q}"


rule robustness_curves:
    input:
        data=DATA_META,
        model=MODEL,
    output:
        CURVES_JSON,
    log:
        f"{RESULTS}/logs/robustness_curves/{REPLICATE}.log",
    benchmark:
        f"{RESULTS}/benchmarks/robustness_curves/{REPLICATE}.tsv"
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # a few attacks at a few ε on up to max_examples test images
        runtime=240,
        mem_mb=32000,
        gpu=job_gpus,
    params:
        model=dataset_settings("model"),
        settings=dataset_settings("curves"),
        seed=config["seed"],
        device=config["device"],
    shell:
        "python -m robinterp robustness-curves --data {input.data:q} --model {input.model:q}"
        " --model-settings {params.model:q} --settings {params.settings:q} --seed {params.seed}"
        " --device {params.device} --threads {threads} --where datasets.{wildcards.dataset}.curves"
        " --out {output:q} 2> {log:q}"
