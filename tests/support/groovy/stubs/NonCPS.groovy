// Stand-in for com.cloudbees.groovy.cps.NonCPS (imported by Jenkins for every script).
import java.lang.annotation.Retention
import java.lang.annotation.RetentionPolicy

@Retention(RetentionPolicy.RUNTIME)
@interface NonCPS {
}
