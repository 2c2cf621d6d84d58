// shipwayDelivery(service: 'hello', environments: [[name: 'staging'], [name: 'production', approval: [submitter: 'ops']]])
//
// The pipeline of a service that runs in several environments (the catalog's
// `environments:`, in promotion order): builds once, deploys to the first environment and
// promotes that digest to each later one, after its approval where it has one.
// shipwayPipeline(environments: ...) calls it. What `shipway render jenkinsfile` renders
// for such a catalog, with the environments given here rather than read from the catalog
// (as the library takes every setting).
//
// Approvals hold no executor (the input waits outside any node) and builds run
// concurrently: milestones keep them in order. The deploy to the first environment is
// milestone 1; each later environment j has 2j before its gate and 2j+1 once it is passed,
// so an older build still waiting at a gate is aborted once a newer one passes it. A newer
// build may still deploy to the environment before a gate while an older one waits there:
// each deploy or promote stashes its record (shipway-record-<env>) and the next promote
// passes it as --expect-record, so it moves what this build put there or nothing.

/**
 * service         the service name (required)
 * environments    the catalog's environments, in promotion order (required, two or more),
 *                 each a map: name (required), credentials (its Docker client certificate:
 *                 a dockerCert credential ID), registryCredentials (its registry login;
 *                 default `credentials`), approval: [submitter: 'ops', timeoutMinutes: 1440]
 *                 (a gate before it, not on the first; submitter: user or group IDs,
 *                 comma-separated, default anyone who may build)
 * catalog, credentials, prometheusCredentials, prometheusToken, deployBranches, agent,
 * timeoutMinutes, pauseTimeout  as shipwayPipeline (a deploy or promote that pauses asks
 *                 within its stage, whose timeout grows by pauseTimeout)
 */
def call(Map config = [:]) {
    String service = config.service
    if (!service) {
        error('shipwayDelivery: service is required')
    }
    String catalog = config.catalog ?: 'shipway.yml'
    String credentials = config.credentials ?: null
    List environments = checkedEnvironments(config.environments, credentials)
    int pauseTimeout = (config.pauseTimeout ?: 60) as int
    // what deploy and promote take beyond the service: Prometheus' login, the pause's time
    Map prometheus = [prometheusCredentials: config.prometheusCredentials ?: null,
                      prometheusToken: config.prometheusToken ?: null,
                      pauseTimeout: pauseTimeout]
    List deployBranches = config.containsKey('deployBranches') ? (config.deployBranches ?: []) : ['main']
    String agentLabel = (config.agent ?: 'any') == 'any' ? '' : config.agent
    // each stage that deploys may wait for a paused deploy's answer too
    int timeoutMinutes = ((config.timeoutMinutes ?: 30) as int) + pauseTimeout
    Map first = environments[0]

    pipeline {
        // No agent for the whole build: an approval holds none while it waits.
        agent none
        options {
            // No disableConcurrentBuilds(): a build waiting for an approval would hold back
            // every later commit. Milestones keep the builds in order instead.
            buildDiscarder(logRotator(numToKeepStr: '30'))
            skipDefaultCheckout()
        }
        stages {
            stage('Build once') {
                agent { label agentLabel }
                options {
                    timeout(time: timeoutMinutes, unit: 'MINUTES')
                }
                stages {
                    stage('Checkout') {
                        steps {
                            script {
                                def scmVars = checkout scm
                                env.GIT_COMMIT = scmVars.GIT_COMMIT ?: ''
                                env.GIT_URL = scmVars.GIT_URL ?: ''
                                env.GIT_BRANCH = scmVars.GIT_BRANCH ?: ''
                                env.GIT_LOCAL_BRANCH = scmVars.GIT_LOCAL_BRANCH ?: ''
                            }
                            // Promotes may run on another agent or workspace, and a second
                            // `checkout scm` could fetch a newer commit: they take this one.
                            stash name: 'shipway-checkout', excludes: '.shipway/**', useDefaultExcludes: true
                        }
                    }
                    stage('Build') {
                        steps {
                            shipwayStage(stage: 'build', service: service, catalog: catalog)
                        }
                    }
                    stage('Image') {
                        steps {
                            shipwayStage(stage: 'image', service: service, catalog: catalog)
                        }
                    }
                    stage('Push') {
                        steps {
                            shipwayStage(stage: 'push', service: service, catalog: catalog, credentials: credentials)
                        }
                    }
                    stage('Deploy') {
                        when {
                            expression { return shipwayPipeline.isDeployBranch(deployBranches, env.BRANCH_NAME ?: env.GIT_LOCAL_BRANCH) }
                        }
                        steps {
                            // Deploys in build order: a build older than one that got here stops.
                            milestone(ordinal: 1, label: "deploy to ${first.name}")
                            script {
                                inEnvironment(service, catalog, first, null, prometheus,
                                              environments.size() > 1, null)
                            }
                        }
                    }
                }
            }
            stage('Promote') {
                agent none
                when {
                    beforeAgent true
                    expression { return shipwayPipeline.isDeployBranch(deployBranches, env.BRANCH_NAME ?: env.GIT_LOCAL_BRANCH) }
                }
                steps {
                    script {
                        for (int j = 1; j < environments.size(); j++) {
                            promoteTo(service, catalog, environments[j - 1], environments[j], j,
                                      prometheus, agentLabel, timeoutMinutes,
                                      j + 1 < environments.size())
                        }
                    }
                }
            }
        }
    }
}

/** `environments` checked, each with its registry login (default `credentials`). */
List checkedEnvironments(environments, String credentials) {
    if (!(environments instanceof List) || environments.size() < 2) {
        error('shipwayDelivery: environments must list two or more environments, in promotion order')
    }
    List out = []
    List names = []
    for (int i = 0; i < environments.size(); i++) {
        Map env = environments[i] instanceof Map ? environments[i] : [:]
        String name = env.name
        // The catalog's rule: it becomes a stage name, a file name and a variable suffix.
        if (!name || !(name ==~ /[a-z][a-z0-9-]{0,30}/) || name == 'all' || names.contains(name)) {
            error("shipwayDelivery: environment ${i + 1}: name must be lower-case letters, digits and '-', starting with a letter, once each (got ${name})")
        }
        if (i == 0 && env.approval) {
            error("shipwayDelivery: the first environment (${name}) has no approval before it: builds deploy to it directly")
        }
        names << name
        Map checked = [name: name, credentials: env.credentials ?: null,
                       registryCredentials: env.registryCredentials ?: credentials]
        if (env.approval != null) {
            Map approval = env.approval instanceof Map ? env.approval : [:]
            checked.approval = [submitter: approval.submitter ?: null,
                                timeoutMinutes: (approval.timeoutMinutes ?: 1440) as int]
        }
        out << checked
    }
    return out
}

/** The file the deploy (`first`) or promote into `target` writes its record to. */
String recordFile(Map target, boolean first) {
    return (first ? "shipway-deploy-${target.name}.json" : "shipway-promote-${target.name}.json").toString()
}

/**
 * shipway's `deploy` (from null) or `promote` (from an environment) into `target`, and
 * `status` there afterwards, its record and status archived. Each binds `target`'s
 * credentials only; promote also `from`'s, under from's own variables: it reads the release
 * running there through from's engine and registry. A promote passes the record of this
 * build's stage into `from` (`expected`, unstashed by the caller); with `stashRecord` (an
 * environment comes after `target`) the record is stashed for that environment's promote.
 */
void inEnvironment(String service, String catalog, Map target, Map from, Map prometheus,
                   boolean stashRecord, String expected) {
    String record = recordFile(target, from == null)
    String status = "shipway-status-${target.name}.json"
    try {
        if (from) {
            shipwayStage([stage: 'promote', service: service, catalog: catalog,
                          environments: [from, target], json: true, output: record,
                          expectRecord: expected,
                          args: ['--from', from.name, '--to', target.name]] + prometheus)
        } else {
            shipwayStage([stage: 'deploy', service: service, catalog: catalog,
                          environment: target.name, environments: [target], json: true,
                          output: record] + prometheus)
        }
        if (stashRecord) {
            // For the promote to the next environment: it checks target still runs this.
            stash name: "shipway-record-${target.name}".toString(), includes: record
        }
    } finally {
        // What runs there now, after a failed deploy too (swarm may have rolled back).
        try {
            shipwayStage(stage: 'status', service: service, catalog: catalog,
                         environment: target.name, json: true, output: status,
                         environments: [[name: target.name, credentials: target.credentials]])
        } catch (err) {
            echo "shipway status failed: ${err}"
        }
        archiveArtifacts artifacts: "${record}, ${status}", allowEmptyArchive: true
    }
}

/** Environment j (1, 2, ...): its gate, if any, then the promote from the one before. */
void promoteTo(String service, String catalog, Map from, Map target, int j, Map prometheus,
               String agentLabel, int timeoutMinutes, boolean stashRecord) {
    milestone(ordinal: 2 * j, label: "before ${target.name}")
    String approver = null
    if (target.approval) {
        stage("Approve ${target.name}") {
            // Outside any node: no executor waits for the answer.
            timeout(time: target.approval.timeoutMinutes, unit: 'MINUTES') {
                approver = input(message: "Promote ${service} from ${from.name} to ${target.name}?",
                                 ok: "Promote to ${target.name}", submitter: target.approval.submitter,
                                 submitterParameter: 'SHIPWAY_APPROVED_BY')
            }
        }
    }
    // Passing it aborts every older build still waiting for this approval.
    milestone(ordinal: 2 * j + 1, label: target.approval ? "${target.name} approved" : "promote to ${target.name}")
    stage("Promote to ${target.name}") {
        node(agentLabel) {
            timeout(time: timeoutMinutes, unit: 'MINUTES') {
                unstash 'shipway-checkout'
                // The record of what this build put into `from`: promote refuses if a newer
                // build or a rollback changed what runs there while this build waited.
                unstash "shipway-record-${from.name}".toString()
                // Who approved it, for the release record.
                withEnv(approver ? ["SHIPWAY_APPROVED_BY=${approver}".toString()] : []) {
                    inEnvironment(service, catalog, target, from, prometheus, stashRecord,
                                  recordFile(from, j == 1))
                }
            }
        }
    }
}
