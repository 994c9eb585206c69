# Standard and adversarial training (robinterp.training), one job per (dataset, method,
# replicate): replicate k trains from robinterp.base.seeds' "replicate" stream (replicate 0
# from the config seed) into models/<dataset>/<method>/seed<seed>/; every replicate goes
# through every analysis, measured alike (the same images, attack starts and noise).
# A killed or preempted job resumes from resume.pt, which is
# not an output, so Snakemake keeps it across failures and retries. SIGTERM or
# SIGUSR1 makes training write resume.pt after the current batch and exit
# 128+signal; model.pt and history.csv are written only when training is done.
# resume.log beside resume.pt keeps the log of every attempt (the rule's log only the last).
# With a `gpu` resource above 1 the job runs one DDP process per GPU; with a `nodes`
# resource above 1 (config: the dataset's or method's `nodes`) torchrun runs on every node
# of the SLURM allocation, one DDP process per GPU of each (docs/multinode.md).


rule train_model:
    input:
        data=DATA_META,
    output:
        model=MODEL,
        history=HISTORY,
    log:
        f"{RESULTS}/logs/train_model/{REPLICATE}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train_model/{REPLICATE}.tsv"
    wildcard_constraints:
        model=method_name_pattern(imported=False),
    conda:
        "../../envs/robinterp.yaml"
    threads: JOB_THREADS
    resources:
        # 100 epochs; PGD-20 adversarial training of ResNet-50 is the longest job
        runtime=2880,
        mem_mb=64000,
        gpu=job_gpus,
        nodes=job_nodes,
    params:
        model=dataset_settings("model"),
        train=train_settings,
        checkpoint=CHECKPOINT,
        seed=training_seed,
        device=config["device"],
        launcher=robinterp_launcher,
    shell:
        "{params.launcher} train --data {input.data:q} --model-settings {params.model:q}"
        " --train-settings {params.train:q} --seed {params.seed} --device {params.device}"
        " --threads {threads} --checkpoint {params.checkpoint:q} --history {output.history:q}"
        " --out {output.model:q} --where datasets.{wildcards.dataset}.train 2> {log:q}"


rule plot_training:
    input:
        unpack(get_histories),
    output:
        png=report(f"{TRAINING_FIGURE}.png", category="Figures"),
        pdf=f"{TRAINING_FIGURE}.pdf",
    log:
        f"{RESULTS}/logs/plot_training/{{dataset}}.log",
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=8000,
    params:
        histories=input_name_paths,
    shell:
        "python -m robinterp plot-training --history {params.histories} --title {wildcards.dataset}"
        " --out {output.png:q} {output.pdf:q} 2> {log:q}"


# A pretrained method (`pretrained:` in its config) is imported, never trained: import_model writes
# the network at the path train_model would (MODEL, the method's one replicate seed), in the same
# model-file format (robinterp.models.imported), so every analysis runs on it unchanged. The two
# rules match disjoint method names (wildcard_constraints), which is how Snakemake picks one.
# The weights file is a setting, not an input (as raw data): dry-runs work without it, and the job
# names the missing file. A local rule: the source's loader may download (RobustBench), which
# compute nodes often cannot.


localrules:
    import_model,


rule import_model:
    input:
        data=DATA_META,
    output:
        model=MODEL,
        record=IMPORT_RECORD,
    log:
        f"{RESULTS}/logs/import_model/{REPLICATE}.log",
    wildcard_constraints:
        model=method_name_pattern(imported=True),
    conda:
        "../../envs/robinterp.yaml"
    threads: 1
    resources:
        runtime=60,
        mem_mb=16000,
    params:
        pretrained=pretrained_settings,
        seed=training_seed,  # refuses a seed other than the method's one replicate seed (the config seed)
    shell:
        "python -m robinterp import-model --data {input.data:q} --settings {params.pretrained:q} --threads {threads}"
        " --out {output.model:q} --record {output.record:q}"
        " --where datasets.{wildcards.dataset}.methods.{wildcards.model}.pretrained 2> {log:q}"
