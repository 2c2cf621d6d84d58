// shipwayStage(stage: 'push', service: 'hello', catalog: 'shipway.yml', credentials: 'registry-creds')
//
// One `shipway` CLI call. Every value reaches the shell as an environment variable and the
// script only names the variables, so no value is ever parsed as Groovy or as shell.
import groovy.transform.Field

@Field static final List<String> STAGES = ['build', 'image', 'push', 'deploy', 'promote', 'rollback', 'status', 'releases']

/**
 * stage        the shipway subcommand (required): build, image, push, deploy, promote, rollback,
 *              status, releases
 * service      the service name (required)
 * catalog      the catalog's path in the workspace; null or '' for none (rollback needs none)
 * environment  the catalog environment it acts on (--environment); null for none
 * environments environments whose credentials to bind, each [name:, credentials:,
 *              registryCredentials:]: its Docker client certificate (dockerCert) as
 *              DOCKER_CERT_PATH_<NAME> with DOCKER_TLS_VERIFY_<NAME>=1, its registry login
 *              as SHIPWAY_REGISTRY_USER_<NAME> / SHIPWAY_REGISTRY_PASSWORD_<NAME> (NAME upper
 *              case, '-' as '_'), which shipway reads for that environment alone
 * credentials  id of a username/password credential for the registry; null for none
 * prometheusCredentials  id of a username/password credential for Prometheus and the
 *              Pushgateway (deploy.analysis, deploy markers); null for none
 * prometheusToken  id of a secret text credential holding their bearer token instead
 * expectRecord promote: the record file (a deploy's or promote's --json output) of what this
 *              build put into --from: promote refuses when --from runs anything else by now
 * json         true: add --json, write the output to `output` and return it parsed (readJSON)
 * output       file for the JSON output (default shipway-<stage>.json)
 * args         further arguments, a list of strings, passed as they are
 */
def call(Map config = [:]) {
    String stageName = config.stage
    String service = config.service
    if (!stageName || !STAGES.contains(stageName)) {
        error("shipwayStage: stage must be one of ${STAGES.join(', ')} (got ${stageName})")
    }
    if (!service) {
        error('shipwayStage: service is required')
    }
    List<String> environment = ["SHIPWAY_STEP_STAGE=${stageName}".toString(),
                                "SHIPWAY_STEP_SERVICE=${service}".toString()]
    String command = 'shipway "$SHIPWAY_STEP_STAGE" --service "$SHIPWAY_STEP_SERVICE"'
    if (config.catalog) {
        environment << "SHIPWAY_STEP_CATALOG=${config.catalog}".toString()
        command += ' --catalog "$SHIPWAY_STEP_CATALOG"'
    }
    if (config.environment) {
        environment << "SHIPWAY_STEP_ENVIRONMENT=${config.environment}".toString()
        command += ' --environment "$SHIPWAY_STEP_ENVIRONMENT"'
    }
    List extra = config.args ?: []
    for (int i = 0; i < extra.size(); i++) {
        environment << "SHIPWAY_STEP_ARG_${i}=${extra[i]}".toString()
        command += " \"\$SHIPWAY_STEP_ARG_${i}\""
    }
    if (config.expectRecord) {
        environment << "SHIPWAY_STEP_EXPECT_RECORD=${config.expectRecord}".toString()
        command += ' --expect-record "$SHIPWAY_STEP_EXPECT_RECORD"'
    }
    String output = config.output ?: "shipway-${stageName}.json".toString()
    if (config.json) {
        environment << "SHIPWAY_STEP_OUTPUT=${output}".toString()
        command += ' --json > "$SHIPWAY_STEP_OUTPUT"'
    }
    if (config.prometheusCredentials && config.prometheusToken) {
        error('shipwayStage: give prometheusCredentials or prometheusToken, not both')
    }
    // Each secret reaches shipway as a variable credentials binding sets (and masks in the
    // log), never in the script or on a command line.
    List bindings = []
    if (config.credentials) {
        bindings << usernamePassword(credentialsId: config.credentials,
                                     usernameVariable: 'SHIPWAY_REGISTRY_USER',
                                     passwordVariable: 'SHIPWAY_REGISTRY_PASSWORD')
    }
    if (config.prometheusCredentials) {
        bindings << usernamePassword(credentialsId: config.prometheusCredentials,
                                     usernameVariable: 'SHIPWAY_PROMETHEUS_USER',
                                     passwordVariable: 'SHIPWAY_PROMETHEUS_PASSWORD')
    }
    if (config.prometheusToken) {
        bindings << string(credentialsId: config.prometheusToken, variable: 'SHIPWAY_PROMETHEUS_TOKEN')
    }
    List targets = config.environments ?: []
    for (int i = 0; i < targets.size(); i++) {
        String suffix = '_' + targets[i].name.toString().toUpperCase().replace('-', '_')
        if (targets[i].credentials) {
            bindings << dockerCert(credentialsId: targets[i].credentials, variable: 'DOCKER_CERT_PATH' + suffix)
            // With only a certificate path the engine's own certificate goes unchecked.
            environment << "DOCKER_TLS_VERIFY${suffix}=1".toString()
        }
        if (targets[i].registryCredentials) {
            bindings << usernamePassword(credentialsId: targets[i].registryCredentials,
                                         usernameVariable: 'SHIPWAY_REGISTRY_USER' + suffix,
                                         passwordVariable: 'SHIPWAY_REGISTRY_PASSWORD' + suffix)
        }
    }
    withEnv(environment) {
        if (bindings) {
            withCredentials(bindings) {
                sh command
            }
        } else {
            sh command
        }
    }
    return config.json ? readJSON(file: output) : null
}
